"""Mail providers' bounce and complaint webhooks (Amazon SES through SNS, Postmark, SendGrid,
Mailgun), authenticated and read into provider-neutral ``HookEvent``s: the shared types, the
secrets, and the kind rule. The providers themselves are ``digest.feedback.sns`` (SES) and
``digest.feedback.providers`` (Postmark, SendGrid, Mailgun); ``digest.feedback.fields`` reads
their payloads.

Pure functions of a request's headers and raw body, and of the time (``now``, aware UTC):
the web routes call them and answer ``HookRefused.http_status``. Each provider's own scheme
authenticates. A bad signature, an untrusted certificate URL, a timestamp out of its window or
a reused Mailgun token is 403; no or wrong credentials 401; a body that is not what the
provider sends 400; a certificate that cannot be fetched 502 (SNS retries).

The kind of a bounce follows the rule for a refusal at send time (``digest.deliver.replies``)
and for a DSN in the bounce mailbox (``digest.feedback.reports``). A specific enhanced code
decides; where there is none (or only X.0.x), the provider's own classification does:

* hard: a permanent failure of the mailbox (5.1.x but the sender's 5.1.7/5.1.8, 5.2.1);
  SES Permanent/NoEmail or Suppressed, Postmark HardBounce or BadEmailAddress, SendGrid's
  "Invalid Address" when the codes are vague.
* soft: a temporary failure (SES Transient or Undetermined, Postmark SoftBounce, Transient
  or DnsError, SendGrid deferred, Mailgun temporary, or "permanent" with a 4.x.x code:
  its retries ran out) of the reader's mailbox, server or domain, or one that says nothing.
* ignored: a failure about us (sender, login, policy, size, content, protocol: SendGrid
  "blocked", Postmark SpamNotification or Blocked), a permanent failure that is not the
  mailbox's, an auto-reply, and a provider refusing to send because of its own list (SES
  OnAccountSuppressionList, SendGrid dropped, Mailgun suppress-*): that list only echoes
  events that reached us by themselves, or an operator's choice.
* complaint: a spam report.

    >>> bounce_kind(True, "5.1.1", "smtp; 550 5.1.1 user unknown")
    'hard'
    >>> bounce_kind(True, "5.7.1", "smtp; 554 5.7.1 rejected by policy")
    'ignored'
    >>> bounce_kind(True, "", "554 delivery error: dd This user doesn't have an account", Concern.MAILBOX)
    'hard'
    >>> bounce_kind(False, "4.2.2", "452 4.2.2 mailbox full")
    'soft'
    >>> bounce_kind(False, "4.7.0", "421 4.7.0 IP not in whitelist")
    'ignored'
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key

from digest.deliver.replies import Concern, concern_of, enhanced_code
from digest.errors import ConfigError, DigestError

HARD, SOFT, COMPLAINT, IGNORED = "hard", "soft", "complaint", "ignored"
_ABOUT_US = (Concern.SENDER, Concern.AUTH, Concern.POLICY, Concern.SIZE, Concern.CONTENT, Concern.PROTOCOL)
_STATUS = re.compile(r"(?<![\d.])[245]\.\d{1,3}\.\d{1,3}(?![\d.])")
_CODE = re.compile(r"(?<![\d.])[45]\d\d(?![\d.])")


@dataclass(frozen=True)
class HookEvent:
    provider: str  # "ses" | "postmark" | "sendgrid" | "mailgun"
    event_id: str  # the provider's id for this event (and recipient): the idempotency key, without the provider
    kind: str  # "hard" | "soft" | "complaint" | "ignored"
    email: str  # the recipient, lower-cased
    message_id: str | None  # the original message's Message-ID, in angle brackets, when the payload carries it
    return_path: str | None  # the original envelope sender, when reported
    status: str  # enhanced status code, "5.1.1", or ""
    detail: str  # one line of at most 300 characters: the provider's type and diagnostic


class HookRefused(DigestError):
    """A webhook request we do not act on. ``http_status`` is the HTTP answer: 400 malformed, 401 no
    or wrong credentials, 403 bad signature, stale, replayed or untrusted URL, 502 AWS unreachable."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.http_status = status
        self.reason = " ".join(reason.split())


@dataclass(frozen=True)
class HookSecrets:
    """What authenticates each provider's hook. An empty ``ses_topics`` accepts any topic,
    that is any AWS account's: set it in production. ``sns_cert_hosts`` are trusted besides
    ``sns.<region>.amazonaws.com`` (tests use "localhost")."""

    ses_topics: tuple[str, ...] = ()
    sns_cert_hosts: tuple[str, ...] = ()
    sns_cafile: str | None = None  # CA bundle for the certificate fetch; None: the system's
    postmark_auth: str | None = None  # "user:password" of the HTTP basic auth in Postmark's webhook URL
    sendgrid_public_key: str | None = None  # the Signed Event Webhook's verification key, base64 DER
    mailgun_signing_key: str | None = None  # the HTTP webhook signing key

    def __post_init__(self) -> None:
        if self.postmark_auth is not None and ":" not in self.postmark_auth:
            raise ConfigError("must be user:password", "DIGEST_POSTMARK_WEBHOOK_AUTH")
        if self.sendgrid_public_key is not None:
            sendgrid_key(self.sendgrid_public_key)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> HookSecrets:
        def listed(name: str) -> tuple[str, ...]:
            return tuple(item.strip() for item in env.get(name, "").split(",") if item.strip())

        def given(name: str) -> str | None:
            return env.get(name, "").strip() or None

        return cls(listed("DIGEST_SES_TOPIC_ARNS"), tuple(h.lower() for h in listed("DIGEST_SNS_CERT_HOSTS")),
                   given("DIGEST_SNS_CAFILE"), given("DIGEST_POSTMARK_WEBHOOK_AUTH"),
                   given("DIGEST_SENDGRID_WEBHOOK_KEY"), given("DIGEST_MAILGUN_SIGNING_KEY"))  # fmt: skip

    def configured(self, provider: str) -> bool:
        """Whether that provider's hook is set up. SES's signatures need no secret, but any AWS
        account can sign a message to us: its hook is there only with the topics it may come from."""
        secret = {"postmark": self.postmark_auth, "sendgrid": self.sendgrid_public_key,
                  "mailgun": self.mailgun_signing_key, "ses": ",".join(self.ses_topics)}.get(provider)  # fmt: skip
        return bool(secret)


def bounce_kind(permanent: bool, status: str, diagnostic: str, hint: Concern | None = None) -> str:
    """A bounce's kind from the provider's permanence, its status and diagnostic, and the
    provider's classification (``hint``) for when the codes say nothing specific."""
    code = enhanced_code(status_of(status, diagnostic))
    permanent = permanent and (code is None or code[0] == 5)  # a 4.x.x "permanent" failure: retries ran out
    specific = code is not None and code[1] != 0
    if hint is not None and not specific:
        concern = hint
    else:
        basic = _CODE.search(diagnostic)
        smtp = int(basic[0]) if basic else (550 if permanent else 450)
        concern = concern_of(smtp, ".".join(map(str, code)) if code and specific else "", "RCPT")
    if permanent:
        return HARD if concern is Concern.MAILBOX else IGNORED
    return IGNORED if concern in _ABOUT_US else SOFT


def status_of(status: str, diagnostic: str) -> str:
    """The enhanced status code: the given one, else the first in the diagnostic, else ""."""
    code = enhanced_code(status)
    if code:
        return ".".join(map(str, code))
    found = _STATUS.search(diagnostic)
    return found[0] if found else ""


def sendgrid_key(text: str) -> ec.EllipticCurvePublicKey:
    """SendGrid's verification key from its base64 DER; a ConfigError when it is not an EC public key."""
    try:
        key = load_der_public_key(base64.b64decode("".join(text.split()), validate=True))
    except (ValueError, UnsupportedAlgorithm):
        key = None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise ConfigError("is not a base64 EC public key", "DIGEST_SENDGRID_WEBHOOK_KEY")
    return key
