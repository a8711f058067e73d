"""Amazon SES's bounce and complaint notifications, delivered by SNS: each message
authenticated and read into ``HookEvent``s (``digest.feedback.hooks``).

SNS signs each message (RSA; SHA1 or SHA256 by ``SignatureVersion``) with a certificate
fetched over https from an SNS host. A bad signature, an untrusted certificate or subscription
URL, or a Timestamp out of its window is 403; a certificate that cannot be fetched 502 (SNS
retries). An SNS signature proves only that AWS sent the message: any AWS account can point
its own topic at our URL, so set ``ses_topics``."""

from __future__ import annotations

import re
import ssl
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from digest.deliver.replies import Concern
from digest.feedback.fields import (
    MAX_BODY,
    address_of,
    fresh,
    ident_of,
    items_of,
    json_of,
    line_of,
    lowered,
    message_id_of,
    object_of,
    signature_of,
    text_of,
)
from digest.feedback.hooks import COMPLAINT, IGNORED, HookEvent, HookRefused, HookSecrets, bounce_kind, status_of

MAX_CERTIFICATE = 64 * 1024
SNS_WINDOW = (timedelta(hours=1), timedelta(minutes=5))  # how old, and how far ahead, a Timestamp may be
_SNS_HOST = re.compile(r"sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?")
_SNS_SIGNED = {  # the keys SNS signs, in order ("Key\nValue\n" each); Subject only when present
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"),
    "UnsubscribeConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"),
}
_SES_VALIDATION = "Successfully validated SNS topic for Amazon SES event publishing."
_SES_HINTS = {  # SES's classification of a bounce, for when its codes say nothing specific
    "NoEmail": Concern.MAILBOX,
    "Suppressed": Concern.MAILBOX,  # on SES's global list: the address hard-bounced for someone lately
    "MailboxFull": Concern.MAILBOX_STATE,
    "MessageTooLarge": Concern.SIZE,
    "ContentRejected": Concern.CONTENT,
    "AttachmentRejected": Concern.CONTENT,
}


@dataclass(frozen=True)
class SnsResult:
    events: list[HookEvent]
    subscribe_url: str | None  # a verified SubscriptionConfirmation's URL, for confirm_subscription


class CertificateCache:
    """SNS signing certificates by URL, fetched over verified https (5 s, no redirects, 64 KB
    at most), kept in memory (the newest ``limit``); safe to share between threads."""

    def __init__(self, limit: int = 16) -> None:
        self._limit = limit
        self._certificates: OrderedDict[str, x509.Certificate] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, url: str, secrets: HookSecrets) -> x509.Certificate:
        with self._lock:
            if url in self._certificates:
                return self._certificates[url]
        try:
            certificate = x509.load_pem_x509_certificate(_get(url, secrets, 5.0))
        except ValueError:
            raise HookRefused(502, f"{url[:200]} is not a PEM certificate") from None
        with self._lock:
            self._certificates[url] = certificate
            while len(self._certificates) > self._limit:
                self._certificates.popitem(last=False)
        return certificate


def ses(
    headers: Mapping[str, str], body: bytes, secrets: HookSecrets, now: datetime, certificates: CertificateCache
) -> SnsResult:
    """An SNS POST carrying SES notifications: its events, or the SubscribeURL to confirm."""
    envelope = object_of(json_of(body, "SNS message"), "SNS message")
    kind = text_of(envelope, "Type", limit=100)
    if kind not in _SNS_SIGNED:
        raise HookRefused(400, f"unknown SNS message type {kind!r}")
    if lowered(headers).get("x-amz-sns-message-type", kind) != kind:
        raise HookRefused(400, "x-amz-sns-message-type does not match the message's Type")
    keys = [key for key in _SNS_SIGNED[kind] if key != "Subject" or envelope.get("Subject") is not None]
    signed = {key: text_of(envelope, key, limit=MAX_BODY) for key in keys}
    if "SubscribeURL" in signed:
        _trusted(signed["SubscribeURL"], secrets)
    _authenticate_sns(envelope, signed, secrets, now, certificates)
    if kind == "Notification":
        return SnsResult(_ses_events(signed["Message"], signed["MessageId"]), None)
    return SnsResult([], signed["SubscribeURL"] if kind == "SubscriptionConfirmation" else None)


def confirm_subscription(url: str, secrets: HookSecrets, timeout: float = 5.0) -> None:
    """Confirm an SNS subscription: GET its SubscribeURL (403 if its host is not trusted, 502 if it fails)."""
    _get(_trusted(url, secrets), secrets, timeout)


def _authenticate_sns(
    envelope: dict[str, object], signed: dict[str, str], secrets: HookSecrets, now: datetime, cache: CertificateCache
) -> None:
    if signed["TopicArn"] not in secrets.ses_topics:  # checked before any fetch: a stranger's topic costs nothing
        raise HookRefused(403, f"SNS topic {signed['TopicArn'][:200]} is not ours")
    fresh(_iso_time(signed["Timestamp"]), now, SNS_WINDOW, "SNS Timestamp")
    algorithm = {"1": hashes.SHA1(), "2": hashes.SHA256()}.get(text_of(envelope, "SignatureVersion", limit=10))
    if algorithm is None:
        raise HookRefused(400, "unknown SNS SignatureVersion")
    signature = signature_of(text_of(envelope, "Signature"), "SNS")
    certificate = cache.get(_trusted(text_of(envelope, "SigningCertURL", limit=2048), secrets), secrets)
    if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
        raise HookRefused(403, "the SNS signing certificate is not valid now")
    key = certificate.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise HookRefused(403, "the SNS signing certificate's key is not RSA")
    canonical = "".join(f"{key}\n{value}\n" for key, value in signed.items()).encode()
    try:
        key.verify(signature, canonical, padding.PKCS1v15(), algorithm)
    except InvalidSignature:
        raise HookRefused(403, "the SNS signature does not verify") from None


def _trusted(url: str, secrets: HookSecrets) -> str:
    """``url`` when it is https on an SNS host (or a trusted one); 403 otherwise."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
    except ValueError:
        parts, host = urlsplit(""), ""
    trusted_host = _SNS_HOST.fullmatch(host) or host in {h.lower() for h in secrets.sns_cert_hosts}
    if parts.scheme != "https" or not trusted_host:
        raise HookRefused(403, f"untrusted SNS URL {url[:200]!r}")
    return url


def _get(url: str, secrets: HookSecrets, timeout: float) -> bytes:
    """The body of a 200 answer to a GET over verified https, at most MAX_CERTIFICATE bytes; 502 otherwise."""
    try:
        tls = ssl.create_default_context(cafile=secrets.sns_cafile)
        client = httpx.Client(verify=tls, timeout=timeout, follow_redirects=False)
        with client, client.stream("GET", url, headers={"Accept-Encoding": "identity"}) as response:
            if response.status_code != 200:
                raise HookRefused(502, f"{url[:200]} answered {response.status_code}")
            body = b""
            for chunk in response.iter_raw():  # as sent: no decompression to outgrow the cap
                body += chunk
                if len(body) > MAX_CERTIFICATE:
                    raise HookRefused(502, f"{url[:200]} sent more than {MAX_CERTIFICATE} bytes")
            return body
    except (httpx.HTTPError, OSError) as exc:
        raise HookRefused(502, f"{url[:200]} could not be fetched: {type(exc).__name__}") from None


def _iso_time(text: str) -> datetime:
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise HookRefused(400, "the SNS Timestamp is not a time") from None
    if when.tzinfo is None:
        raise HookRefused(400, "the SNS Timestamp has no time zone")
    return when


def _ses_events(message: str, sns_id: str) -> list[HookEvent]:
    if message.strip() == _SES_VALIDATION:
        return []
    notice = object_of(json_of(message, "SES notification"), "SES notification")
    kind = text_of(notice, "notificationType", required=False) or text_of(notice, "eventType", required=False)
    if kind not in ("Bounce", "Complaint"):
        return []  # Delivery, and event publishing's Send, Open, Click, DeliveryDelay...
    report = object_of(notice.get(kind.lower()), f"SES {kind.lower()}")
    origin = _ses_origin(object_of(notice.get("mail", {}), "SES mail"))
    feedback = ident_of(report, "feedbackId") if "feedbackId" in report else sns_id
    if kind == "Complaint":
        ignored = text_of(report, "complaintSubType", required=False) == "OnAccountSuppressionList"
        detail = line_of("complaint", text_of(report, "complaintFeedbackType", required=False))
        kind = IGNORED if ignored else COMPLAINT  # a complaint on record, not a new one
        recipients = items_of(report, "complainedRecipients")
        emails = [address_of(object_of(r, "SES recipient"), "emailAddress") for r in recipients]
        return [HookEvent("ses", f"{feedback}:{e}", kind, e, *origin, "", detail) for e in emails]
    bounced = [object_of(r, "SES recipient") for r in items_of(report, "bouncedRecipients")]
    return [_ses_bounce(report, recipient, feedback, origin) for recipient in bounced]


def _ses_bounce(
    bounce: dict[str, object], recipient: dict[str, object], feedback: str, origin: tuple[str | None, str | None]
) -> HookEvent:
    bounce_type, subtype = text_of(bounce, "bounceType", limit=100), text_of(bounce, "bounceSubType", required=False)
    email = address_of(recipient, "emailAddress")
    status = text_of(recipient, "status", required=False)
    diagnostic = text_of(recipient, "diagnosticCode", required=False)
    if subtype == "OnAccountSuppressionList":
        kind = IGNORED
    else:
        kind = bounce_kind(bounce_type == "Permanent", status, diagnostic, _SES_HINTS.get(subtype))
    detail = line_of(f"{bounce_type}/{subtype}", diagnostic)
    return HookEvent("ses", f"{feedback}:{email}", kind, email, *origin, status_of(status, diagnostic), detail)


def _ses_origin(mail: dict[str, object]) -> tuple[str | None, str | None]:
    """The original Message-ID (from ``headers``, else ``commonHeaders``) and envelope sender."""
    found = ""
    for header in items_of(mail, "headers", required=False):
        named = object_of(header, "SES mail header")
        if text_of(named, "name", limit=200).lower() == "message-id":
            found = found or text_of(named, "value", limit=998)
    common = object_of(mail.get("commonHeaders", {}), "SES commonHeaders")
    found = found or text_of(common, "messageId", required=False, limit=998)
    return message_id_of(found), text_of(mail, "source", required=False, limit=998) or None
