"""Postmark's, SendGrid's and Mailgun's bounce and complaint webhooks, each authenticated its
own way and read into ``HookEvent``s (``digest.feedback.hooks``).

Postmark sends the HTTP basic auth we chose; SendGrid signs timestamp + body with ECDSA
P-256; Mailgun puts an HMAC-SHA256 of a timestamp and a token in the body. No or wrong
credentials are 401; a bad signature, a timestamp out of its window or a reused Mailgun token
is 403."""

from __future__ import annotations

import base64
import hmac
import re
import threading
from collections import OrderedDict
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from hashlib import sha256

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from digest.deliver.replies import Concern
from digest.feedback.fields import (
    address_of,
    fresh,
    ident_of,
    json_of,
    line_of,
    lowered,
    message_id_of,
    object_of,
    signature_of,
    text_of,
)
from digest.feedback.hooks import (
    COMPLAINT,
    IGNORED,
    HookEvent,
    HookRefused,
    HookSecrets,
    bounce_kind,
    sendgrid_key,
    status_of,
)

SIGNED_WINDOW = (timedelta(minutes=10), timedelta(minutes=5))  # how old, and how far ahead, a timestamp may be
_POSTMARK = {  # the bounce types that are bounces: (permanent, hint); any other type is ignored
    "HardBounce": (True, Concern.MAILBOX),
    "BadEmailAddress": (True, Concern.MAILBOX),
    "SoftBounce": (False, Concern.MAILBOX_STATE),
    "Transient": (False, None),
    "DnsError": (False, Concern.SYSTEM),
}
_SENDGRID = ("bounce", "dropped", "deferred", "spamreport")
_SECONDS = re.compile(r"[0-9]{1,10}")


class SeenTokens:
    """Mailgun tokens used in this process within their timestamps' window (at most ``limit``):
    one used again is a replay. Other processes keep their own; the caller's ``event_id``
    idempotency covers a replay to another process."""

    def __init__(self, limit: int = 10_000) -> None:
        self._limit = limit
        self._seen: OrderedDict[str, datetime] = OrderedDict()
        self._lock = threading.Lock()

    def first_use(self, token: str, now: datetime) -> bool:
        oldest = now - SIGNED_WINDOW[0] - SIGNED_WINDOW[1]  # a token dated ahead stays fresh that much longer
        with self._lock:
            while self._seen and (len(self._seen) >= self._limit or next(iter(self._seen.values())) < oldest):
                self._seen.popitem(last=False)
            if token in self._seen:
                return False
            self._seen[token] = now
            return True


_TOKENS = SeenTokens()


def postmark(headers: Mapping[str, str], body: bytes, secrets: HookSecrets) -> list[HookEvent]:
    """A Postmark bounce or spam complaint webhook POST, behind HTTP basic auth."""
    _basic_auth(lowered(headers).get("authorization", ""), secrets.postmark_auth)
    record = object_of(json_of(body, "Postmark record"), "Postmark record")
    record_type = text_of(record, "RecordType", limit=100)
    if record_type not in ("Bounce", "SpamComplaint"):
        return []
    bounce, details = text_of(record, "Type", required=False), text_of(record, "Details", required=False)
    if record_type == "SpamComplaint":
        kind = COMPLAINT
    elif bounce in _POSTMARK:
        permanent, hint = _POSTMARK[bounce]
        kind = bounce_kind(permanent, "", details, hint)
    else:
        kind = IGNORED  # an auto-reply, a spam notification, a block, a DMARC policy: nothing against the reader
    event_id = f"{record_type}:{ident_of(record, 'ID')}"
    email = address_of(record, "Email")
    return [HookEvent("postmark", event_id, kind, email, None, None, status_of("", details), line_of(bounce, details))]


def sendgrid(headers: Mapping[str, str], body: bytes, secrets: HookSecrets, now: datetime) -> list[HookEvent]:
    """A SendGrid Signed Event Webhook POST: its bounce, deferral, drop and spam report events."""
    _verify_sendgrid(lowered(headers), body, secrets, now)
    items = json_of(body, "SendGrid events")
    if not isinstance(items, list):
        raise HookRefused(400, "SendGrid events are not a JSON array")
    events = [_sendgrid_event(object_of(item, "SendGrid event")) for item in items]
    return [event for event in events if event is not None]


def mailgun(
    headers: Mapping[str, str], body: bytes, secrets: HookSecrets, now: datetime, tokens: SeenTokens | None = None
) -> list[HookEvent]:
    """A Mailgun webhook POST (JSON, signed in its body): a failure or a complaint."""
    post = object_of(json_of(body, "Mailgun webhook"), "Mailgun webhook")
    signature = object_of(post.get("signature"), "Mailgun signature")
    _verify_mailgun(signature, secrets, now, _TOKENS if tokens is None else tokens)
    data = object_of(post.get("event-data"), "Mailgun event-data")
    name = text_of(data, "event", limit=100)
    if name not in ("failed", "complained"):
        return []
    message = object_of(object_of(data.get("message", {}), "Mailgun message").get("headers", {}), "Mailgun headers")
    origin = message_id_of(text_of(message, "message-id", required=False, limit=998))
    sender = text_of(object_of(data.get("envelope", {}), "Mailgun envelope"), "sender", required=False, limit=998)
    email, event_id = address_of(data, "recipient"), ident_of(data, "id")
    stamp = data.get("timestamp")  # Mailgun's ids are unique within a day only: the event's time makes them unique
    if isinstance(stamp, int | float) and not isinstance(stamp, bool):
        event_id = f"{event_id}:{stamp:.6f}"
    if name == "complained":
        return [HookEvent("mailgun", event_id, COMPLAINT, email, origin, sender or None, "", "complained")]
    kind, status, diagnostic = _mailgun_failure(data)
    return [HookEvent("mailgun", event_id, kind, email, origin, sender or None, status, line_of(name, diagnostic))]


def _basic_auth(header: str, expected: str | None) -> None:
    if expected is None:
        raise HookRefused(401, "no Postmark webhook credentials are configured")
    scheme, _, token = header.partition(" ")
    try:
        given = base64.b64decode(token.strip(), validate=True)
    except ValueError:
        given = b""
    if scheme.lower() != "basic" or not hmac.compare_digest(given, expected.encode()):
        raise HookRefused(401, "wrong or missing Postmark credentials")


def _verify_sendgrid(headers: dict[str, str], body: bytes, secrets: HookSecrets, now: datetime) -> None:
    if secrets.sendgrid_public_key is None:
        raise HookRefused(401, "no SendGrid verification key is configured")
    signature = headers.get("x-twilio-email-event-webhook-signature", "")
    stamp = headers.get("x-twilio-email-event-webhook-timestamp", "")
    if not signature or not stamp:
        raise HookRefused(401, "the SendGrid request is not signed")
    when = _unix_time(stamp, "SendGrid timestamp")
    try:
        sendgrid_key(secrets.sendgrid_public_key).verify(
            signature_of(signature, "SendGrid"), stamp.encode() + body, ec.ECDSA(hashes.SHA256())
        )
    except InvalidSignature:
        raise HookRefused(403, "the SendGrid signature does not verify") from None
    fresh(when, now, SIGNED_WINDOW, "SendGrid timestamp")


def _sendgrid_event(item: dict[str, object]) -> HookEvent | None:
    name = text_of(item, "event", limit=100)
    if name not in _SENDGRID:
        return None
    email, event_id = address_of(item, "email"), ident_of(item, "sg_event_id")
    status = text_of(item, "status", required=False, limit=100)
    reason = text_of(item, "reason", required=False) or text_of(item, "response", required=False)
    bounce_type = text_of(item, "type", required=False, limit=100)
    if name == "spamreport":
        kind = COMPLAINT
    elif name == "dropped" or bounce_type == "blocked":
        kind = IGNORED
    else:
        invalid = text_of(item, "bounce_classification", required=False) in ("Invalid Address", "Mailbox Unavailable")
        kind = bounce_kind(name == "bounce", status, reason, Concern.MAILBOX if invalid else None)
    origin = message_id_of(text_of(item, "smtp-id", required=False, limit=998))
    detail = line_of(f"{name}/{bounce_type}" if bounce_type else name, reason)
    return HookEvent("sendgrid", event_id, kind, email, origin, None, status_of(status, reason), detail)


def _verify_mailgun(signature: dict[str, object], secrets: HookSecrets, now: datetime, tokens: SeenTokens) -> None:
    if secrets.mailgun_signing_key is None:
        raise HookRefused(401, "no Mailgun signing key is configured")
    stamp, token = ident_of(signature, "timestamp"), text_of(signature, "token", limit=200)
    given = text_of(signature, "signature", limit=200)
    expected = hmac.new(secrets.mailgun_signing_key.encode(), (stamp + token).encode(), sha256).hexdigest()
    if not hmac.compare_digest(given.lower().encode(), expected.encode()):
        raise HookRefused(403, "the Mailgun signature does not verify")
    fresh(_unix_time(stamp, "Mailgun timestamp"), now, SIGNED_WINDOW, "Mailgun timestamp")
    if not tokens.first_use(token, now):
        raise HookRefused(403, "the Mailgun token was used before (a replay)")


def _mailgun_failure(data: dict[str, object]) -> tuple[str, str, str]:
    """A ``failed`` event's kind, status and diagnostic."""
    delivery = object_of(data.get("delivery-status", {}), "Mailgun delivery-status")
    code = delivery.get("code")
    basic = str(code) if isinstance(code, int) and 400 <= code < 600 else ""
    text = text_of(delivery, "message", required=False) or text_of(delivery, "description", required=False)
    diagnostic = f"{basic} {text}".strip()
    status = status_of(text_of(delivery, "enhanced-code", required=False, limit=100), diagnostic)
    reason = text_of(data, "reason", required=False, limit=100)
    if reason.startswith("suppress-") or reason == "esp-block":
        return IGNORED, status, diagnostic  # Mailgun's own lists, or Mailgun refusing us
    permanent = text_of(data, "severity", required=False, limit=100) == "permanent" and reason != "old"
    return bounce_kind(permanent, status, diagnostic), status, diagnostic


def _unix_time(text: str, what: str) -> datetime:
    if not _SECONDS.fullmatch(text):
        raise HookRefused(400, f"{what} is not a number of seconds")
    return datetime.fromtimestamp(int(text), UTC)
