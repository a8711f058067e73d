"""The providers' webhooks through a real ``digest serve``: an authenticated event changes the
reader it is about (once, however often the provider retries), a wrong signature, a stale
timestamp or a replayed token changes nothing, and a provider not set up is not there."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import Engine
from sqlmodel import Session, select

from digest.config import Config
from digest.models import Event
from tests.test_bounces import Mailed, issue_ready, mailed, statuses
from tests.test_hooks import TOPIC, Https, Pki, body_of, https, pki, server, signed
from tests.webserver import running

pytestmark = pytest.mark.dates

__all__ = ["https", "issue_ready", "mailed", "pki", "server"]  # the fixtures, used by name

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
POSTMARK_AUTH = "hooks:" + secrets.token_urlsafe(12)
MAILGUN_KEY = secrets.token_hex(16)
SENDGRID_KEY = ec.generate_private_key(ec.SECP256R1())
SENDGRID_PUBLIC = base64.b64encode(SENDGRID_KEY.public_key().public_bytes(
    serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).decode()  # fmt: skip


def hooked(config: Config, **secrets_: str) -> Config:
    env = {"DIGEST_POSTMARK_WEBHOOK_AUTH": POSTMARK_AUTH, "DIGEST_MAILGUN_SIGNING_KEY": MAILGUN_KEY,
           "DIGEST_SENDGRID_WEBHOOK_KEY": SENDGRID_PUBLIC, **secrets_}  # fmt: skip
    return replace(config, settings=replace(config.settings, hook_env={k: v for k, v in env.items() if v}))


def events(engine: Engine) -> list[tuple[str, str]]:
    with Session(engine) as session:
        return sorted((e.kind, e.method) for e in session.exec(select(Event)))


def postmark(record_type: str, bounce: str, email: str, record_id: int, details: str = "") -> bytes:
    return json.dumps({"RecordType": record_type, "ID": record_id, "Type": bounce, "Email": email,
                       "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483", "Details": details}).encode()  # fmt: skip


def basic(credentials: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(credentials.encode()).decode()}


def mailgun(email: str, message_id: str, when: datetime = NOW, token: str | None = None, key: str = MAILGUN_KEY,
            event: str = "failed") -> bytes:  # fmt: skip
    token = token or secrets.token_hex(25)
    stamp = str(int(when.timestamp()))
    signature = hmac.new(key.encode(), (stamp + token).encode(), hashlib.sha256).hexdigest()
    data = {"id": secrets.token_hex(8), "event": event, "severity": "permanent", "recipient": email,
            "delivery-status": {"code": 550, "enhanced-code": "5.1.1", "message": "5.1.1 no such user"},
            "message": {"headers": {"message-id": message_id.strip("<>")}}}  # fmt: skip
    return json.dumps({"signature": {"timestamp": stamp, "token": token, "signature": signature},
                       "event-data": data}).encode()  # fmt: skip


def sendgrid_headers(body: bytes, when: datetime = NOW) -> dict[str, str]:
    stamp = str(int(when.timestamp()))
    signature = SENDGRID_KEY.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return {"X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
            "X-Twilio-Email-Event-Webhook-Timestamp": stamp, "Content-Type": "application/json"}  # fmt: skip


def message_id(m: Mailed, who: str) -> str:
    from tests.reports import message_id_of

    return message_id_of(m.messages[who])


def test_postmark_events_change_their_readers_once_and_wrong_auth_nothing(mailed: Mailed, engine: Engine) -> None:
    config = hooked(mailed.config)
    hard = postmark("Bounce", "HardBounce", "Hard@Example.com", 11, "smtp;550 5.1.1 no such user")
    with running(engine, config, clock=lambda: NOW) as base, httpx.Client(base_url=base) as client:
        assert client.post("/hooks/postmark", content=hard, headers=basic("hooks:wrong")).status_code == 401
        assert client.post("/hooks/postmark", content=hard).status_code == 401
        assert statuses(engine)["hard"] == "active" and events(engine) == []
        first = client.post("/hooks/postmark", content=hard, headers=basic(POSTMARK_AUTH))
        again = client.post("/hooks/postmark", content=hard, headers=basic(POSTMARK_AUTH))
        spam = client.post("/hooks/postmark", content=postmark("SpamComplaint", "SpamComplaint", "complain@example.com",
                                                                 12), headers=basic(POSTMARK_AUTH))  # fmt: skip
        stranger = client.post("/hooks/postmark", content=postmark("Bounce", "HardBounce", "stranger@example.net", 13),
                               headers=basic(POSTMARK_AUTH))  # fmt: skip
        looked = client.get("/hooks/postmark", headers=basic(POSTMARK_AUTH))
    assert first.status_code == 200 and (first.json()["hard"], first.json()["changed"]) == (1, 1)
    assert again.status_code == 200 and again.json()["seen_before"] == 1 and again.json()["changed"] == 0
    assert spam.json()["complaints"] == 1 and stranger.json()["unmatched"] == 1
    assert looked.status_code == 405
    assert statuses(engine) == {**{w: "active" for w in mailed.messages}, "hard": "bounced", "complain": "complained"}
    assert events(engine) == [("bounced", "postmark"), ("complained", "postmark")]


def test_mailgun_signatures_timestamps_and_replays(mailed: Mailed, engine: Engine) -> None:
    config = hooked(mailed.config)
    token = secrets.token_hex(25)
    good = mailgun("qmail@example.com", message_id(mailed, "qmail"), token=token)
    with running(engine, config, clock=lambda: NOW) as base, httpx.Client(base_url=base) as client:
        wrong = client.post("/hooks/mailgun", content=mailgun("hard@example.com", message_id(mailed, "hard"),
                                                              key="another-key"))  # fmt: skip
        stale = client.post("/hooks/mailgun", content=mailgun("hard@example.com", message_id(mailed, "hard"),
                                                              when=NOW - timedelta(minutes=11)))  # fmt: skip
        first = client.post("/hooks/mailgun", content=good)
        replayed = client.post("/hooks/mailgun", content=good)
    assert (wrong.status_code, stale.status_code, replayed.status_code) == (403, 403, 403)
    assert first.status_code == 200 and first.json()["hard"] == 1
    assert statuses(engine)["qmail"] == "bounced" and statuses(engine)["hard"] == "active"
    assert events(engine) == [("bounced", "mailgun")]


def test_sendgrid_signed_batches(mailed: Mailed, engine: Engine) -> None:
    config = hooked(mailed.config)
    batch = json.dumps([
        {"email": "ooo@example.com", "event": "spamreport", "sg_event_id": "sg-1"},
        {"email": "delay@example.com", "event": "deferred", "response": "452 4.2.2 mailbox full", "sg_event_id": "sg-2"},
        {"email": "victim@example.com", "event": "bounce", "type": "blocked", "status": "5.7.1", "sg_event_id": "sg-3",
         "reason": "550 5.7.1 blocked by reputation"},
        {"email": "quiet@example.com", "event": "open", "sg_event_id": "sg-4"},
    ] + [{"email": f"x{i}@example.net", "event": "delivered", "sg_event_id": f"d{i}", "pad": "x" * 100}
         for i in range(150)]).encode()  # fmt: skip
    assert len(batch) > 16 * 1024, "more than a page's body limit: a webhook batch may be large"
    with running(engine, config, clock=lambda: NOW) as base, httpx.Client(base_url=base) as client:
        forged = client.post("/hooks/sendgrid", content=batch.replace(b"ooo@", b"hard@"),
                             headers=sendgrid_headers(batch))  # fmt: skip
        stale = client.post("/hooks/sendgrid", content=batch, headers=sendgrid_headers(batch, NOW - timedelta(hours=1)))
        done = client.post("/hooks/sendgrid", content=batch, headers=sendgrid_headers(batch))
        huge = client.post("/hooks/sendgrid", content=b"[" + b" " * (1024 * 1024 + 1) + b"]",
                           headers=sendgrid_headers(b"[]"))  # fmt: skip
    assert (forged.status_code, stale.status_code, huge.status_code) == (403, 403, 413)
    assert done.status_code == 200, done.text
    shown = done.json()
    assert (shown["complaints"], shown["soft"], shown["ignored"]) == (1, 1, 1)
    assert statuses(engine) == {**{w: "active" for w in mailed.messages}, "ooo": "complained"}


def test_a_provider_not_set_up_is_not_there(mailed: Mailed, engine: Engine) -> None:
    config = hooked(mailed.config, DIGEST_POSTMARK_WEBHOOK_AUTH="", DIGEST_MAILGUN_SIGNING_KEY="",
                    DIGEST_SENDGRID_WEBHOOK_KEY="")  # fmt: skip
    with running(engine, config, clock=lambda: NOW) as base, httpx.Client(base_url=base) as client:
        answers = [client.post(f"/hooks/{p}", content=b"{}").status_code for p in ("postmark", "mailgun", "sendgrid")]
        unknown = client.post("/hooks/elsewhere", content=b"{}").status_code
        ses = client.post("/hooks/ses", content=b"not json").status_code
    assert answers == [404, 404, 404] and unknown == 404 and ses == 404, "SES is there only with its topics listed"


def test_ses_through_sns_verified_confirmed_and_recorded_once(mailed: Mailed, engine: Engine, pki: Pki,
                                                              https: Https) -> None:  # fmt: skip
    config = hooked(mailed.config, DIGEST_SES_TOPIC_ARNS=TOPIC, DIGEST_SNS_CERT_HOSTS="localhost",
                    DIGEST_SNS_CAFILE=str(pki.ca_file))  # fmt: skip
    bounce = json.dumps({
        "notificationType": "Bounce",
        "bounce": {"bounceType": "Permanent", "bounceSubType": "General", "feedbackId": "0102-fb-1",
                   "bouncedRecipients": [{"emailAddress": "hard@example.com", "action": "failed", "status": "5.1.1",
                                          "diagnosticCode": "smtp; 550 5.1.1 user unknown"}]},
        "mail": {"messageId": "0102-ses-id", "source": mailed.senders["hard"],
                 "headers": [{"name": "Message-ID", "value": message_id(mailed, "hard")}]},
    })  # fmt: skip
    complaint = json.dumps({"notificationType": "Complaint", "complaint": {
        "feedbackId": "0102-fb-2", "complaintFeedbackType": "abuse",
        "complainedRecipients": [{"emailAddress": "complain@example.com"}]}, "mail": {"messageId": "x"}})  # fmt: skip
    sns = {"x-amz-sns-message-type": "Notification", "Content-Type": "text/plain; charset=UTF-8"}
    notified = body_of(signed(pki, https, bounce))
    with running(engine, config, clock=lambda: NOW) as base, httpx.Client(base_url=base) as client:
        confirm = client.post("/hooks/ses", content=body_of(signed(pki, https, "join", "SubscriptionConfirmation")),
                              headers={"x-amz-sns-message-type": "SubscriptionConfirmation"})  # fmt: skip
        tampered = client.post("/hooks/ses", content=notified.replace(b"hard@", b"quiet@"), headers=sns)
        stale = client.post("/hooks/ses", content=body_of(signed(pki, https, bounce, when=NOW - timedelta(hours=2))),
                            headers=sns)  # fmt: skip
        first = client.post("/hooks/ses", content=notified, headers=sns)
        retried = client.post("/hooks/ses", content=notified, headers=sns)
        spam = client.post("/hooks/ses", content=body_of(signed(pki, https, complaint)), headers=sns)
    assert confirm.status_code == 200 and any(hit.startswith("/confirm") for hit in https.hits)
    assert (tampered.status_code, stale.status_code) == (403, 403)
    assert first.json()["hard"] == 1 and retried.json()["seen_before"] == 1 and spam.json()["complaints"] == 1
    assert statuses(engine) == {**{w: "active" for w in mailed.messages}, "hard": "bounced", "complain": "complained"}
    assert events(engine) == [("bounced", "ses"), ("complained", "ses")]


def test_nul_and_lone_surrogates_in_an_event_are_stored_not_fatal(mailed: Mailed, engine: Engine) -> None:
    config = hooked(mailed.config)
    body = postmark("Bounce", "HardBounce", "hard@example.com", 21, "smtp;550 5.1.1 gone\\u0000 \\udc80")
    with running(engine, config, clock=lambda: NOW) as base, httpx.Client(base_url=base) as client:
        answer = client.post("/hooks/postmark", content=body.replace(b"\\\\u", b"\\u"), headers=basic(POSTMARK_AUTH))
    assert answer.status_code == 200, answer.text
    assert answer.json()["hard"] == 1 and statuses(engine)["hard"] == "bounced"
