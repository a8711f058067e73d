"""Providers' bounce webhooks: real signatures (RSA for SNS over a real HTTPS server with its
own CA, ECDSA for SendGrid, HMAC for Mailgun), the kind rule, and garbage that must be refused."""

from __future__ import annotations

import base64
import doctest
import hashlib
import hmac
import json
import secrets as random
import ssl
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.datastructures import Headers

from digest.deliver.replies import Concern
from digest.errors import ConfigError
from digest.feedback import hooks, sns
from digest.feedback.fields import MAX_BODY
from digest.feedback.hooks import HookEvent, HookRefused, HookSecrets, bounce_kind
from digest.feedback.providers import SeenTokens, mailgun, postmark, sendgrid
from digest.feedback.sns import CertificateCache, confirm_subscription, ses

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
TOPIC = "arn:aws:sns:eu-west-1:123456789012:digest-bounces"
OUR_ID = "<digest.2026-W48.0123456789abcdef0123456789abcdef@example.com>"
MAILGUN_KEY = "mailgun-signing-key-for-tests"


# --- a CA, an HTTPS server it vouches for, and an SNS signing certificate -------------------------------------------


@dataclass
class Pki:
    ca_file: Path
    server_tls: ssl.SSLContext
    signing_key: rsa.RSAPrivateKey
    signing_pem: bytes
    signing_expires: datetime


def _certificate(name: str, key: Any, issuer: x509.Name, issuer_key: Any, start: datetime, end: datetime,
                 ca: bool = False, hosts: tuple[str, ...] = ()) -> x509.Certificate:  # fmt: skip
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if hosts:
        names = [x509.DNSName(hosts[0]), *(x509.IPAddress(IPv4Address(h)) for h in hosts[1:])]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    wall = datetime.now(UTC)
    start, end = min(wall, NOW) - timedelta(days=1), max(wall, NOW) + timedelta(days=30)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "digest test CA")])
    ca = _certificate("digest test CA", ca_key, ca_name, ca_key, start, end, ca=True)
    server_key = ec.generate_private_key(ec.SECP256R1())
    server = _certificate("localhost", server_key, ca_name, ca_key, start, end, hosts=("localhost", "127.0.0.1"))
    signing_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    signing = _certificate("sns.amazonaws.com", signing_key, ca_name, ca_key, start, end)
    folder = tmp_path_factory.mktemp("pki")
    (folder / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (folder / "server.pem").write_bytes(server.public_bytes(serialization.Encoding.PEM))
    key_pem = server_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption())  # fmt: skip
    (folder / "server.key").write_bytes(key_pem)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(folder / "server.pem", folder / "server.key")
    return Pki(folder / "ca.pem", tls, signing_key, signing.public_bytes(serialization.Encoding.PEM), end)


@dataclass
class Https:
    base: str = ""
    routes: dict[str, tuple[int, bytes, dict[str, str]]] = field(default_factory=dict)
    hits: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def server(pki: Pki) -> Iterator[Https]:
    state = Https()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            state.hits.append(self.path)
            status, body, headers = state.routes.get(self.path.split("?")[0], (404, b"no", {}))
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    httpd.socket = pki.server_tls.wrap_socket(httpd.socket, server_side=True)
    state.base = f"https://localhost:{httpd.server_address[1]}"
    state.routes = {
        "/cert.pem": (200, pki.signing_pem, {}),
        "/again.pem": (200, pki.signing_pem, {}),
        "/confirm": (200, b"<ConfirmSubscriptionResponse/>", {}),
        "/broken": (500, b"", {}),
        "/moved.pem": (302, b"", {"Location": "/cert.pem"}),
        "/huge.pem": (200, pki.signing_pem + b"\n" * 70_000, {}),  # a good certificate, but too big
    }
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def https(server: Https) -> Https:
    server.hits.clear()
    return server


@pytest.fixture
def trust(pki: Pki) -> HookSecrets:
    return HookSecrets(ses_topics=(TOPIC,), sns_cert_hosts=("localhost",), sns_cafile=str(pki.ca_file))


# --- SNS messages, signed as AWS signs them ------------------------------------------------------------------------


def signed(pki: Pki, https: Https, message: str, kind: str = "Notification", version: str = "2",
           when: datetime = NOW, key: rsa.RSAPrivateKey | None = None, **fields: str) -> dict[str, str]:  # fmt: skip
    envelope = {"Type": kind, "MessageId": str(uuid.uuid4()), "TopicArn": TOPIC, "Message": message,
                "Timestamp": when.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z", "SignatureVersion": version,
                "SigningCertURL": f"{https.base}/cert.pem"}  # fmt: skip
    if kind != "Notification":
        envelope |= {"Token": "2336412f37fb687f5d51e6e2425f0", "SubscribeURL": f"{https.base}/confirm?Token=2336"}
    envelope |= fields
    order = sns._SNS_SIGNED[kind]
    canonical = "".join(f"{k}\n{envelope[k]}\n" for k in order if k in envelope).encode()
    algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()
    signature = (key or pki.signing_key).sign(canonical, padding.PKCS1v15(), algorithm)
    return envelope | {"Signature": base64.b64encode(signature).decode()}


def body_of(envelope: dict[str, str]) -> bytes:
    return json.dumps(envelope).encode()


def ses_bounce(kind: str, subtype: str, status: str, diagnostic: str, email: str = "Ada@Example.com") -> str:
    return json.dumps({
        "notificationType": "Bounce",
        "bounce": {"bounceType": kind, "bounceSubType": subtype, "feedbackId": "0102-feedback",
                   "bouncedRecipients": [{"emailAddress": email, "action": "failed", "status": status,
                                          "diagnosticCode": diagnostic}]},
        "mail": {"messageId": "0102-ses-own-id", "source": "bounces+w48@example.com",
                 "headers": [{"name": "From", "value": "Digest <digest@example.com>"},
                             {"name": "Message-ID", "value": OUR_ID}],
                 "commonHeaders": {"messageId": "<other@example.com>"}},
    })  # fmt: skip


def refused(call: Any, *args: Any, **kwargs: Any) -> HookRefused:
    with pytest.raises(HookRefused) as caught:
        call(*args, **kwargs)
    return caught.value


# --- SES through SNS ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["1", "2"])
def test_a_permanent_mailbox_bounce_is_hard_with_either_signature_version(pki: Pki, https: Https, trust: HookSecrets,
                                                                          version: str) -> None:  # fmt: skip
    message = ses_bounce("Permanent", "General", "5.1.1", "smtp; 550 5.1.1 <ada@example.com>: user unknown")
    envelope = signed(pki, https, message, version=version, Subject="Amazon SES Email Event")
    result = ses({"X-Amz-Sns-Message-Type": "Notification"}, body_of(envelope), trust, NOW, CertificateCache())
    assert result.subscribe_url is None
    assert result.events == [
        HookEvent("ses", "0102-feedback:ada@example.com", "hard", "ada@example.com", OUR_ID, "bounces+w48@example.com",
                  "5.1.1", "Permanent/General: smtp; 550 5.1.1 <ada@example.com>: user unknown"),
    ]  # fmt: skip
    assert https.hits == ["/cert.pem"]


def ses_complaint(subtype: str | None = None) -> str:
    return json.dumps({"notificationType": "Complaint", "mail": {"commonHeaders": {"messageId": OUR_ID}},
                       "complaint": {"feedbackId": "0102-c", "complaintFeedbackType": "abuse", "complaintSubType": subtype,
                                     "complainedRecipients": [{"emailAddress": "Bo@example.org"}]}})  # fmt: skip


def test_ses_complaints_and_the_certificate_fetched_once(pki: Pki, https: Https, trust: HookSecrets) -> None:
    cache = CertificateCache()
    [event] = ses({}, body_of(signed(pki, https, ses_complaint())), trust, NOW, cache).events
    assert (event.kind, event.email, event.event_id, event.message_id, event.detail) == (
        "complaint", "bo@example.org", "0102-c:bo@example.org", OUR_ID, "complaint: abuse")  # fmt: skip
    [listed] = ses({}, body_of(signed(pki, https, ses_complaint("OnAccountSuppressionList"))), trust, NOW, cache).events
    assert listed.kind == "ignored", "a complaint already on our list, not a new one"
    assert https.hits == ["/cert.pem"], "the certificate is fetched once, then cached"


SES_CACHE = CertificateCache()


@pytest.mark.parametrize(("bounce_type", "subtype", "status", "diagnostic", "kind"), [
    ("Permanent", "NoEmail", "", "smtp; 554 delivery error: dd This user doesn't have an account", "hard"),
    ("Permanent", "Suppressed", "", "Amazon SES has suppressed sending to this address", "hard"),
    ("Permanent", "OnAccountSuppressionList", "5.1.1", "on the account-level suppression list", "ignored"),
    ("Permanent", "General", "5.7.1", "smtp; 554 5.7.1 message refused by policy", "ignored"),
    ("Transient", "MailboxFull", "4.2.2", "smtp; 452 4.2.2 mailbox full", "soft"),
    ("Transient", "MailboxFull", "5.2.2", "smtp; 552 5.2.2 mailbox full", "soft"),
    ("Transient", "MessageTooLarge", "", "smtp; 552 message too large", "ignored"),
    ("Transient", "General", "4.4.7", "", "soft"),
    ("Undetermined", "Undetermined", "", "", "soft"),
])  # fmt: skip
def test_ses_bounce_kinds(pki: Pki, server: Https, trust: HookSecrets, bounce_type: str, subtype: str, status: str,
                          diagnostic: str, kind: str) -> None:  # fmt: skip
    message = ses_bounce(bounce_type, subtype, status, diagnostic)
    assert [e.kind for e in ses({}, body_of(signed(pki, server, message)), trust, NOW, SES_CACHE).events] == [kind]


def test_the_cache_keeps_the_newest_certificates(pki: Pki, https: Https, trust: HookSecrets) -> None:
    cache = CertificateCache(limit=1)
    for path in ("/cert.pem", "/again.pem", "/cert.pem", "/cert.pem"):
        cache.get(f"{https.base}{path}", trust)
    assert https.hits == ["/cert.pem", "/again.pem", "/cert.pem"]


def test_deliveries_and_the_topic_validation_message_are_no_events(pki: Pki, https: Https, trust: HookSecrets) -> None:
    delivery = json.dumps({"notificationType": "Delivery", "mail": {}, "delivery": {"recipients": ["a@example.com"]}})
    for message in (delivery, "Successfully validated SNS topic for Amazon SES event publishing."):
        assert ses({}, body_of(signed(pki, https, message)), trust, NOW, CertificateCache()).events == []


def test_a_subscription_is_confirmed_at_its_verified_url(pki: Pki, https: Https, trust: HookSecrets) -> None:
    envelope = signed(pki, https, "You have chosen to subscribe to the topic.", kind="SubscriptionConfirmation")
    result = ses({"x-amz-sns-message-type": "SubscriptionConfirmation"}, body_of(envelope), trust, NOW,
                 CertificateCache())  # fmt: skip
    assert result == sns.SnsResult([], f"{https.base}/confirm?Token=2336")
    confirm_subscription(f"{https.base}/confirm?Token=2336", trust)
    assert https.hits == ["/cert.pem", "/confirm?Token=2336"]
    unsubscribed = signed(pki, https, "You have unsubscribed.", kind="UnsubscribeConfirmation")
    assert ses({}, body_of(unsubscribed), trust, NOW, CertificateCache()) == sns.SnsResult([], None)


def test_confirming_refuses_untrusted_urls_and_failed_answers(https: Https, trust: HookSecrets) -> None:
    assert refused(confirm_subscription, "https://evil.example.com/confirm", trust).http_status == 403
    assert refused(confirm_subscription, f"{https.base.replace('https', 'http')}/confirm", trust).http_status == 403
    assert refused(confirm_subscription, f"{https.base}/broken", trust).http_status == 502
    assert refused(confirm_subscription, f"{https.base}/moved.pem", trust).http_status == 502, "no redirects"
    assert https.hits == ["/broken", "/moved.pem"]


def test_a_tampered_message_or_another_key_is_refused(pki: Pki, https: Https, trust: HookSecrets) -> None:
    envelope = signed(pki, https, ses_bounce("Permanent", "General", "5.1.1", ""))
    tampered = envelope | {"Message": envelope["Message"].replace("Ada@", "eve@")}
    assert refused(ses, {}, body_of(tampered), trust, NOW, CertificateCache()).http_status == 403
    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = signed(pki, https, ses_bounce("Permanent", "General", "5.1.1", ""), key=forger)
    assert refused(ses, {}, body_of(forged), trust, NOW, CertificateCache()).http_status == 403
    retyped = envelope | {"SignatureVersion": "1"}  # the same bytes, checked with SHA1
    assert refused(ses, {}, body_of(retyped), trust, NOW, CertificateCache()).http_status == 403


@pytest.mark.parametrize("url", ["https://evil.example.com/x.pem", "https://sns.eu-west-1.amazonaws.com.evil.com/x.pem",
                                 "https://s3.amazonaws.com/x.pem", "https://evil-sns.eu-west-1.amazonaws.com/x.pem",
                                 "https://evil.com/sns.eu-west-1.amazonaws.com", "ftp://localhost/cert.pem"])  # fmt: skip
def test_a_certificate_url_off_the_trusted_hosts_is_refused_without_a_fetch(pki: Pki, https: Https,
                                                                           trust: HookSecrets, url: str) -> None:  # fmt: skip
    envelope = signed(pki, https, ses_bounce("Permanent", "General", "5.1.1", ""), SigningCertURL=url)
    assert refused(ses, {}, body_of(envelope), trust, NOW, CertificateCache()).http_status == 403
    assert https.hits == []


def test_the_sns_hosts_and_the_listed_ones_are_trusted(trust: HookSecrets) -> None:
    for url in ("https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-1.pem",
                "https://sns.cn-north-1.amazonaws.com.cn/x.pem", "https://LOCALHOST:8443/x.pem"):  # fmt: skip
        assert sns._trusted(url, trust) == url  # no fetch: these hosts are not reachable from a test


def test_a_certificate_url_over_plain_http_is_refused(pki: Pki, https: Https, trust: HookSecrets) -> None:
    url = f"{https.base.replace('https', 'http')}/cert.pem"
    envelope = signed(pki, https, ses_bounce("Permanent", "General", "5.1.1", ""), SigningCertURL=url)
    assert refused(ses, {}, body_of(envelope), trust, NOW, CertificateCache()).http_status == 403
    assert https.hits == []


def test_a_subscribe_url_off_the_trusted_hosts_is_refused(pki: Pki, https: Https, trust: HookSecrets) -> None:
    envelope = signed(pki, https, "confirm", kind="SubscriptionConfirmation", SubscribeURL="https://evil.example.com/c")
    assert refused(ses, {}, body_of(envelope), trust, NOW, CertificateCache()).http_status == 403


@pytest.mark.parametrize("age", [timedelta(hours=1, seconds=1), -timedelta(minutes=5, seconds=1)])
def test_a_stale_or_future_timestamp_is_refused(pki: Pki, https: Https, trust: HookSecrets, age: timedelta) -> None:
    envelope = signed(pki, https, ses_bounce("Permanent", "General", "5.1.1", ""), when=NOW - age)
    assert refused(ses, {}, body_of(envelope), trust, NOW, CertificateCache()).http_status == 403
    fresh = signed(pki, https, ses_bounce("Permanent", "General", "5.1.1", ""), when=NOW - age * 0.9)
    assert len(ses({}, body_of(fresh), trust, NOW, CertificateCache()).events) == 1


def test_a_topic_not_listed_is_refused_and_no_list_accepts_none(pki: Pki, https: Https, trust: HookSecrets) -> None:
    envelope = signed(pki, https, ses_bounce("Permanent", "General", "5.1.1", ""), TopicArn=TOPIC + "-theirs")
    assert refused(ses, {}, body_of(envelope), trust, NOW, CertificateCache()).http_status == 403
    assert https.hits == [], "a stranger's topic is refused before any certificate is fetched"
    nobody = HookSecrets(sns_cert_hosts=("localhost",), sns_cafile=trust.sns_cafile)
    assert refused(ses, {}, body_of(envelope), nobody, NOW, CertificateCache()).http_status == 403
    assert not nobody.configured("ses"), "no topics: the SES hook is not there at all"


def test_the_certificate_must_be_valid_then_and_served_safely(pki: Pki, https: Https, trust: HookSecrets) -> None:
    later = pki.signing_expires + timedelta(days=1)
    envelope = signed(pki, https, ses_bounce("Permanent", "General", "5.1.1", ""), when=later)
    assert refused(ses, {}, body_of(envelope), trust, later, CertificateCache()).http_status == 403
    for path in ("/huge.pem", "/moved.pem", "/broken"):
        moved = signed(pki, https, "{}", SigningCertURL=f"{https.base}{path}")
        assert refused(ses, {}, body_of(moved), trust, NOW, CertificateCache()).http_status == 502, path
    untrusting = HookSecrets(
        ses_topics=(TOPIC,), sns_cert_hosts=("localhost",)
    )  # the system's CAs do not know the test CA
    assert refused(ses, {}, body_of(signed(pki, https, "{}")), untrusting, NOW, CertificateCache()).http_status == 502


def test_the_message_type_header_must_match(pki: Pki, https: Https, trust: HookSecrets) -> None:
    envelope = signed(pki, https, "confirm", kind="SubscriptionConfirmation")
    headers = {"x-amz-sns-message-type": "Notification"}
    assert refused(ses, headers, body_of(envelope), trust, NOW, CertificateCache()).http_status == 400


# --- Postmark ----------------------------------------------------------------------------------------------------

POSTMARK = HookSecrets(postmark_auth="hooks:s3cret")


def basic(credentials: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(credentials.encode()).decode()}


def postmark_record(record_type: str = "Bounce", bounce: str = "HardBounce", details: str = "") -> bytes:
    return json.dumps({"RecordType": record_type, "ID": 4323372036854775807, "Type": bounce, "TypeCode": 1,
                       "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483", "Email": "Ada@Example.com",
                       "Details": details, "Description": "The server was unable to deliver your message",
                       "Inactive": True, "CanActivate": True}).encode()  # fmt: skip


def test_postmark_needs_the_right_basic_auth() -> None:
    body = postmark_record()
    assert len(postmark(basic("hooks:s3cret"), body, POSTMARK)) == 1
    for headers in (
        basic("hooks:wrong"),
        basic("hooks:s3cret2"),
        {},
        {"Authorization": "Bearer " + basic("hooks:s3cret")["Authorization"][6:]},
    ):
        assert refused(postmark, headers, body, POSTMARK).http_status == 401
    assert refused(postmark, basic("hooks:s3cret"), body, HookSecrets()).http_status == 401, "not configured"


@pytest.mark.parametrize(("record_type", "bounce", "details", "kind"), [
    ("Bounce", "HardBounce", "smtp;550 5.1.1 The email account that you tried to reach does not exist.", "hard"),
    ("Bounce", "HardBounce", "", "hard"),  # Postmark's classification when there is no code
    ("Bounce", "HardBounce", "smtp;554 5.7.1 Service unavailable; client host blocked", "ignored"),  # about us
    ("Bounce", "SoftBounce", "smtp;452 4.2.2 mailbox full", "soft"),
    ("Bounce", "Transient", "", "soft"),
    ("Bounce", "DnsError", "smtp;554 no valid MX for example.com", "soft"),  # the reader's domain, for now
    ("Bounce", "BadEmailAddress", "", "hard"),
    ("Bounce", "SpamNotification", "smtp;550 5.7.1 spam", "ignored"),
    ("Bounce", "AutoResponder", "I am away", "ignored"),
    ("SpamComplaint", "SpamComplaint", "", "complaint"),
])  # fmt: skip
def test_postmark_kinds(record_type: str, bounce: str, details: str, kind: str) -> None:
    [event] = postmark(Headers(basic("hooks:s3cret")), postmark_record(record_type, bounce, details), POSTMARK)
    assert (event.kind, event.email, event.event_id) == (kind, "ada@example.com", f"{record_type}:4323372036854775807")
    assert event.message_id is None and event.provider == "postmark"


def test_a_long_diagnostic_is_cut_to_one_line_of_300_characters() -> None:
    [event] = postmark(basic("hooks:s3cret"), postmark_record(details="smtp;550 5.1.1 gone\n" + "x " * 1500), POSTMARK)
    assert len(event.detail) == 300 and event.detail.startswith("HardBounce: smtp;550 5.1.1 gone x x")


def test_postmark_deliveries_are_no_events() -> None:
    assert postmark(basic("hooks:s3cret"), json.dumps({"RecordType": "Delivery"}).encode(), POSTMARK) == []


# --- SendGrid ----------------------------------------------------------------------------------------------------

SENDGRID_KEY = ec.generate_private_key(ec.SECP256R1())
SENDGRID = HookSecrets(sendgrid_public_key=base64.b64encode(SENDGRID_KEY.public_key().public_bytes(
    serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).decode())  # fmt: skip


def sendgrid_headers(
    body: bytes, when: datetime = NOW, key: ec.EllipticCurvePrivateKey = SENDGRID_KEY
) -> dict[str, str]:
    stamp = str(int(when.timestamp()))
    signature = key.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return {"X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
            "X-Twilio-Email-Event-Webhook-Timestamp": stamp}  # fmt: skip


SENDGRID_EVENTS = json.dumps([
    {"email": "Ada@example.com", "event": "bounce", "type": "bounce", "status": "5.1.1", "sg_event_id": "e1",
     "reason": "550 5.1.1 unknown recipient", "smtp-id": OUR_ID, "timestamp": 1},
    {"email": "bo@example.com", "event": "bounce", "type": "blocked", "status": "5.1.1", "sg_event_id": "e2",
     "reason": "550 5.7.1 blocked by reputation"},
    {"email": "cy@example.com", "event": "deferred", "response": "451 4.3.0 try again later", "sg_event_id": "e3"},
    {"email": "di@example.com", "event": "dropped", "reason": "Bounced Address", "sg_event_id": "e4"},
    {"email": "ed@example.com", "event": "spamreport", "sg_event_id": "e5"},
    {"email": "fy@example.com", "event": "delivered", "sg_event_id": "e6"},
    {"email": "hu@example.com", "event": "bounce", "type": "bounce", "status": "5.0.0", "sg_event_id": "e8",
     "reason": "550 5.0.0 rejected", "bounce_classification": "Invalid Address"},
    {"email": "gu@example.com", "event": "open", "sg_event_id": "e7"},
]).encode()  # fmt: skip


def test_sendgrid_events_are_mapped() -> None:
    events = sendgrid(sendgrid_headers(SENDGRID_EVENTS), SENDGRID_EVENTS, SENDGRID, NOW)
    assert [(e.event_id, e.kind, e.email) for e in events] == [
        ("e1", "hard", "ada@example.com"), ("e2", "ignored", "bo@example.com"), ("e3", "soft", "cy@example.com"),
        ("e4", "ignored", "di@example.com"), ("e5", "complaint", "ed@example.com"), ("e8", "hard", "hu@example.com"),
    ]  # fmt: skip
    assert (events[0].message_id, events[0].status, events[2].status) == (OUR_ID, "5.1.1", "4.3.0")


def test_sendgrid_refuses_a_wrong_signature_or_a_stale_timestamp() -> None:
    headers = sendgrid_headers(SENDGRID_EVENTS)
    assert refused(sendgrid, headers, SENDGRID_EVENTS + b" ", SENDGRID, NOW).http_status == 403
    other = ec.generate_private_key(ec.SECP256R1())
    assert (
        refused(sendgrid, sendgrid_headers(SENDGRID_EVENTS, key=other), SENDGRID_EVENTS, SENDGRID, NOW).http_status
        == 403
    )
    stale = sendgrid_headers(SENDGRID_EVENTS, when=NOW - timedelta(minutes=10, seconds=1))
    assert refused(sendgrid, stale, SENDGRID_EVENTS, SENDGRID, NOW).http_status == 403
    ahead = sendgrid_headers(SENDGRID_EVENTS, when=NOW + timedelta(minutes=5, seconds=1))
    assert refused(sendgrid, ahead, SENDGRID_EVENTS, SENDGRID, NOW).http_status == 403
    nearly = sendgrid_headers(SENDGRID_EVENTS, when=NOW - timedelta(minutes=9))
    assert len(sendgrid(nearly, SENDGRID_EVENTS, SENDGRID, NOW)) == 6
    assert refused(sendgrid, {}, SENDGRID_EVENTS, SENDGRID, NOW).http_status == 401
    assert refused(sendgrid, headers, SENDGRID_EVENTS, HookSecrets(), NOW).http_status == 401


# --- Mailgun -----------------------------------------------------------------------------------------------------

MAILGUN = HookSecrets(mailgun_signing_key=MAILGUN_KEY)


def mailgun_body(data: object, when: datetime = NOW, token: str | None = None, key: str = MAILGUN_KEY) -> bytes:
    stamp, token = str(int(when.timestamp())), token or random.token_hex(25)
    signature = hmac.new(key.encode(), (stamp + token).encode(), hashlib.sha256).hexdigest()
    return json.dumps({"signature": {"timestamp": stamp, "token": token, "signature": signature},
                       "event-data": data}).encode()  # fmt: skip


def failed(severity: str, code: int, message: str, reason: str = "bounce") -> dict[str, object]:
    return {"id": "G9Bn5sl1TC6nu79C8C0bwg", "event": "failed", "severity": severity, "reason": reason,
            "recipient": "Ada@example.com", "envelope": {"sender": "bounces+w48@example.com"},
            "message": {"headers": {"message-id": OUR_ID.strip("<>")}},
            "delivery-status": {"code": code, "message": message, "description": ""}}  # fmt: skip


@pytest.mark.parametrize(("data", "kind", "status"), [
    (failed("permanent", 550, "5.1.1 The email account that you tried to reach does not exist"), "hard", "5.1.1"),
    (failed("temporary", 452, "4.2.2 The email account that you tried to reach is over quota"), "soft", "4.2.2"),
    (failed("permanent", 550, "5.7.1 Our system has detected an unusual rate of mail"), "ignored", "5.7.1"),
    (failed("permanent", 550, "5.1.1 previously bounced", reason="suppress-bounce"), "ignored", "5.1.1"),  # our list
    (failed("permanent", 451, "4.4.7 expired", reason="old"), "soft", "4.4.7"),
    (failed("permanent", 0, "", reason="old"), "soft", ""),  # retries ran out: temporary failures
    ({"id": "c1", "event": "complained", "recipient": "ada@example.com"}, "complaint", ""),
])  # fmt: skip
def test_mailgun_events_are_mapped(data: dict[str, object], kind: str, status: str) -> None:
    [event] = mailgun({}, mailgun_body(data), MAILGUN, NOW, SeenTokens())
    assert (event.kind, event.email, event.status) == (kind, "ada@example.com", status)
    if data["event"] == "failed":
        assert (event.message_id, event.return_path) == (OUR_ID, "bounces+w48@example.com")


def test_mailgun_refuses_a_wrong_hmac_a_stale_timestamp_and_a_replayed_token() -> None:
    data, seen = failed("permanent", 550, "5.1.1 no such user"), SeenTokens()
    assert refused(mailgun, {}, mailgun_body(data, key="another key"), MAILGUN, NOW, seen).http_status == 403
    stale = mailgun_body(data, when=NOW - timedelta(minutes=10, seconds=1))
    assert refused(mailgun, {}, stale, MAILGUN, NOW, seen).http_status == 403
    body = mailgun_body(data, token="t" * 50)
    assert len(mailgun({}, body, MAILGUN, NOW, seen)) == 1
    assert refused(mailgun, {}, body, MAILGUN, NOW + timedelta(minutes=1), seen).http_status == 403, "replayed"
    assert len(mailgun({}, mailgun_body(data), MAILGUN, NOW, seen)) == 1, "a fresh token is fine"
    assert refused(mailgun, {}, mailgun_body(data), HookSecrets(), NOW, seen).http_status == 401


def test_a_token_refused_for_its_signature_is_not_remembered() -> None:
    data, seen = failed("permanent", 550, "5.1.1 no such user"), SeenTokens()
    assert refused(mailgun, {}, mailgun_body(data, token="u" * 50, key="forged"), MAILGUN, NOW, seen).http_status == 403
    assert len(mailgun({}, mailgun_body(data, token="u" * 50), MAILGUN, NOW, seen)) == 1


def test_seen_tokens_forget_after_their_window_and_stay_bounded() -> None:
    seen = SeenTokens(limit=2)
    assert seen.first_use("a", NOW) and not seen.first_use("a", NOW)
    assert seen.first_use("a", NOW + timedelta(minutes=16))
    assert seen.first_use("b", NOW + timedelta(minutes=16)) and seen.first_use("c", NOW + timedelta(minutes=16))
    assert seen.first_use("a", NOW + timedelta(minutes=16)), "the oldest went when the log was full"


# --- the kind rule, secrets, malformed input ---------------------------------------------------------------------


@pytest.mark.parametrize(("permanent", "status", "diagnostic", "hint", "kind"), [
    (True, "5.1.1", "", None, "hard"),
    (True, "", "smtp; 550 5.1.10 null MX", None, "hard"),
    (True, "5.2.1", "mailbox disabled", None, "hard"),
    (True, "5.1.8", "sender domain not found", None, "ignored"),  # about our address
    (True, "5.7.1", "", Concern.MAILBOX, "ignored"),  # a specific code beats the provider's label
    (True, "5.3.4", "message too big", None, "ignored"),
    (True, "5.6.0", "content rejected", None, "ignored"),
    (True, "5.2.2", "mailbox full", None, "ignored"),  # permanent but not a missing mailbox
    (True, "", "550 no such user", None, "ignored"),  # a bare 550 says too little
    (True, "5.0.0", "550 no such user", Concern.MAILBOX, "hard"),  # X.0.0 is no code at all
    (True, "4.2.2", "", None, "soft"),  # "permanent" after retries of a temporary failure
    (False, "", "", None, "soft"),
    (False, "4.4.1", "connection timed out", None, "soft"),
    (False, "4.7.1", "try later: sender rate limited", None, "ignored"),
    (False, "", "", Concern.SIZE, "ignored"),
])  # fmt: skip
def test_the_kind_rule(permanent: bool, status: str, diagnostic: str, hint: Concern | None, kind: str) -> None:
    assert bounce_kind(permanent, status, diagnostic, hint) == kind


def test_the_docstring_examples_hold() -> None:
    assert doctest.testmod(hooks).failed == 0


def test_secrets_from_the_environment() -> None:
    env = {"DIGEST_SES_TOPIC_ARNS": f" {TOPIC}, arn:b ,", "DIGEST_SNS_CERT_HOSTS": "LocalHost",
           "DIGEST_POSTMARK_WEBHOOK_AUTH": "a:b", "DIGEST_MAILGUN_SIGNING_KEY": "k",
           "DIGEST_SENDGRID_WEBHOOK_KEY": SENDGRID.sendgrid_public_key or ""}  # fmt: skip
    secrets = HookSecrets.from_env(env)
    assert (secrets.ses_topics, secrets.sns_cert_hosts, secrets.sns_cafile) == ((TOPIC, "arn:b"), ("localhost",), None)
    assert all(secrets.configured(p) for p in ("ses", "postmark", "sendgrid", "mailgun"))
    empty = HookSecrets.from_env({})
    assert [p for p in ("ses", "postmark", "sendgrid", "mailgun", "other") if empty.configured(p)] == []
    with pytest.raises(ConfigError, match="SENDGRID"):
        HookSecrets.from_env({"DIGEST_SENDGRID_WEBHOOK_KEY": "not a key"})
    with pytest.raises(ConfigError, match="POSTMARK"):
        HookSecrets(postmark_auth="no colon")


def test_huge_and_mistyped_fields_are_refused_with_400() -> None:
    auth = basic("hooks:s3cret")
    for record in ({"RecordType": "Bounce", "ID": 1, "Type": "HardBounce", "Email": "a" * 10_000 + "@example.com"},
                   {"RecordType": "Bounce", "ID": 1, "Type": "HardBounce", "Email": ["ada@example.com"]},
                   {"RecordType": "Bounce", "ID": True, "Type": "HardBounce", "Email": "ada@example.com"},
                   {"RecordType": "Bounce", "ID": 1, "Type": "HardBounce", "Email": "not an address"},
                   [1, 2]):  # fmt: skip
        assert refused(postmark, auth, json.dumps(record).encode(), POSTMARK).http_status == 400
    padded = json.dumps({"RecordType": "Delivery", "pad": "x" * MAX_BODY}).encode()
    assert refused(postmark, auth, padded, POSTMARK).http_status == 400
    assert refused(postmark, auth, b"[" * 100_000, POSTMARK).http_status == 400


KEYS = st.sampled_from([
    "notificationType", "eventType", "bounce", "complaint", "mail", "bounceType", "bounceSubType", "bouncedRecipients",
    "complainedRecipients", "emailAddress", "status", "diagnosticCode", "feedbackId", "complaintSubType", "headers",
    "commonHeaders", "messageId", "source", "name", "value", "RecordType", "ID", "Type", "Email", "Details", "event",
    "email", "sg_event_id", "type", "reason", "response", "smtp-id", "bounce_classification", "id", "severity",
    "recipient", "message", "message-id", "envelope", "sender", "delivery-status", "code", "enhanced-code",
    "description",
]) | st.text(max_size=4)  # fmt: skip
VALUES = st.sampled_from([
    "Bounce", "Complaint", "Delivery", "Permanent", "Transient", "Undetermined", "NoEmail", "Suppressed",
    "OnAccountSuppressionList", "MailboxFull", "HardBounce", "SoftBounce", "SpamComplaint", "bounce", "blocked",
    "deferred", "dropped", "spamreport", "failed", "complained", "permanent", "temporary", "suppress-bounce", "old",
    "Message-ID", "ada@example.com", "Ada <ADA@example.com>", "5.1.1", "4.2.2", "550 5.1.1 user unknown", "<a@b>",
    "", " ", "\n", "é@ü", "@", "5.", "999",
])  # fmt: skip
LEAVES = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | VALUES | st.text(max_size=12)
JSONISH = st.recursive(LEAVES, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=8),
                       max_leaves=40)  # fmt: skip
OBJECTS = st.dictionaries(KEYS, JSONISH, max_size=8)


def only_refused(call: Any, *args: Any) -> None:
    """The call gives well-formed events or a HookRefused with a one-line reason; nothing else."""
    try:
        result = call(*args)
    except HookRefused as refusal:
        assert refusal.http_status in (400, 401, 403, 502) and "\n" not in refusal.reason and refusal.reason
        return
    for event in result.events if isinstance(result, sns.SnsResult) else result:
        assert event.kind in ("hard", "soft", "complaint", "ignored") and event.email == event.email.lower()
        assert len(event.detail) <= 300 and "\n" not in event.detail and "@" in event.email


FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(garbage=st.binary(max_size=300) | JSONISH.map(lambda v: json.dumps(v).encode()))
def test_garbage_bodies_are_refused(garbage: bytes) -> None:
    only_refused(postmark, basic("hooks:s3cret"), garbage, POSTMARK)
    only_refused(sendgrid, sendgrid_headers(garbage), garbage, SENDGRID, NOW)
    only_refused(mailgun, {}, garbage, MAILGUN, NOW, SeenTokens())
    only_refused(ses, {}, garbage, HookSecrets(), NOW, CertificateCache())


@st.composite
def near(draw: st.DrawFn, value: object) -> object:
    """``value`` with some fields dropped or replaced by garbage, at any depth: shapes close to real ones."""
    if isinstance(value, dict):
        changed = {}
        for key, item in value.items():
            choice = draw(st.integers(0, 11))
            if choice:
                changed[key] = draw(JSONISH) if choice == 1 else draw(near(item))
        return changed
    if isinstance(value, list):
        return [draw(near(item)) for item in value]
    return draw(JSONISH) if draw(st.integers(0, 7)) == 0 else value


POSTMARK_RECORDS = st.sampled_from([postmark_record(), postmark_record("SpamComplaint", "SpamComplaint")])
MAILGUN_DATA = [
    failed("permanent", 550, "5.1.1 no such user"),
    {"id": "c", "event": "complained", "recipient": "a@b.c"},
]
SES_NOTICES = [ses_bounce("Permanent", "General", "5.1.1", "smtp; 550 5.1.1 gone"), ses_complaint()]


@FUZZ
@given(record=POSTMARK_RECORDS.flatmap(lambda raw: near(json.loads(raw))), events=st.lists(st.sampled_from(json.loads(SENDGRID_EVENTS)), min_size=1, max_size=2).flatmap(near),
       data=st.sampled_from(MAILGUN_DATA).flatmap(near))  # fmt: skip
def test_authentic_requests_near_real_shapes_give_events_or_400(record: object, events: object, data: object) -> None:
    only_refused(postmark, basic("hooks:s3cret"), json.dumps(record).encode(), POSTMARK)
    body = json.dumps(events).encode()
    only_refused(sendgrid, sendgrid_headers(body), body, SENDGRID, NOW)
    only_refused(mailgun, {}, mailgun_body(data), MAILGUN, NOW, SeenTokens())


@FUZZ
@given(notice=st.sampled_from(SES_NOTICES).flatmap(lambda raw: near(json.loads(raw))) | JSONISH)
def test_signed_ses_notifications_near_real_shapes_give_events_or_400(pki: Pki, server: Https, notice: object) -> None:
    trust = HookSecrets(sns_cert_hosts=("localhost",), sns_cafile=str(pki.ca_file))
    only_refused(ses, {}, body_of(signed(pki, server, json.dumps(notice))), trust, NOW, SES_CACHE)
