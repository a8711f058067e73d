"""``POST /hooks/{provider}``: a mail provider's bounce and complaint events, authenticated
the provider's way (``digest.feedback.sns``, ``digest.feedback.providers``) and recorded like
the mailbox's reports (``digest.feedback.record``): once per event id, changing a reader only
when the event is about a message digest sent.

404 for a provider not set up (its secret unset); 401 or 403 for a missing or wrong
signature, a stale timestamp or a replayed token; 400 for a malformed body; otherwise 200
and a JSON tally (a provider's retry of an event already recorded is a 200 that changes
nothing, so the provider stops retrying)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Engine
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from digest.config import Config
from digest.deliver import ledger
from digest.feedback import providers, sns
from digest.feedback.hooks import HookEvent, HookRefused, HookSecrets
from digest.feedback.record import Recorder, Tally
from digest.feedback.reports import OUR_MESSAGE_ID, Citation, Kind, Report
from digest.feedback.sns import CertificateCache
from digest.serve.guard import OffLoop

log = logging.getLogger("digest.serve.webhooks")
PROVIDERS = ("ses", "postmark", "sendgrid", "mailgun")
FETCH_WAIT = 12.0  # an SNS certificate fetch or subscription confirmation: 5 s each at most
RECORD_WAIT = 30.0  # a batch of events, one transaction each (SendGrid batches hundreds); then a 503 and a retry


class Webhooks:
    def __init__(self, engine: Engine, config: Config, clock: Callable[[], datetime]) -> None:
        self.engine, self.clock = engine, clock
        self.secrets = HookSecrets.from_env(config.settings.hook_env)
        self.recorder = Recorder.open(engine, config)
        self.certificates = CertificateCache()
        self.network = OffLoop(threads=2, wait=FETCH_WAIT)  # AWS's certificate, a subscription's confirmation
        self.db = OffLoop(threads=2, wait=RECORD_WAIT)

    async def post(self, request: Request) -> Response:
        provider = str(request.path_params["provider"])
        if provider not in PROVIDERS or not self.secrets.configured(provider):
            return PlainTextResponse("no such webhook here", status_code=404)
        body, headers, now = await request.body(), dict(request.headers), self.clock()
        try:
            if provider == "ses":
                result = await self.network.run(sns.ses, headers, body, self.secrets, now, self.certificates)
                if result.subscribe_url is not None:
                    await self.network.run(sns.confirm_subscription, result.subscribe_url, self.secrets)
                    log.info("confirmed the SNS subscription for /hooks/ses")
                events = result.events
            elif provider == "postmark":
                events = providers.postmark(headers, body, self.secrets)
            elif provider == "sendgrid":
                events = providers.sendgrid(headers, body, self.secrets, now)
            else:
                events = providers.mailgun(headers, body, self.secrets, now)
        except HookRefused as refused:
            log.warning("/hooks/%s refused (%d): %s", provider, refused.http_status, refused.reason)
            return PlainTextResponse(refused.reason, status_code=refused.http_status)
        tally = await self.db.run(self.record, events, now)
        log.info("/hooks/%s: %s", provider, tally.to_json())
        return JSONResponse(tally.to_json())

    def record(self, events: list[HookEvent], now: datetime) -> Tally:
        tally = Tally()
        for event in events:
            report = as_report(event)
            mailed = self.recorder.cited(report)
            if mailed is None and report.kind in (Kind.HARD, Kind.SOFT, Kind.COMPLAINT):
                mailed = ledger.last_went_out(self.engine, event.email)  # the provider vouches for the address
            self.recorder.record(report, event.provider, tally, mailed=mailed, now=now)
        return tally


_KINDS = {"hard": Kind.HARD, "soft": Kind.SOFT, "complaint": Kind.COMPLAINT}


def as_report(event: HookEvent) -> Report:
    """A provider's event as a report: what it names, and what it cites of ours."""
    ids = tuple((m[1], m[2].lower(), m[3].lower()) for m in OUR_MESSAGE_ID.finditer(event.message_id or ""))
    cited = Citation((event.return_path,) if event.return_path else (), ids)
    return Report(_KINDS.get(event.kind, Kind.IGNORED), event.event_id, event.email, event.status, event.detail, cited)
