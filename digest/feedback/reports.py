"""What a message in the bounce mailbox says, read with the standard library's ``email``.

* A ``multipart/report`` is a report whatever its other headers say (real DSNs carry
  ``Auto-Submitted`` too): ``report-type=delivery-status`` is a DSN (RFC 3464), read per
  recipient from its ``message/delivery-status`` part; ``report-type=feedback-report`` is a
  complaint (ARF, RFC 5965).
* Other mail from a mail system (``MAILER-DAEMON``, ``postmaster``) or with a bounce's
  subject is a bounce in one of the big providers' older shapes: its status code, recipient
  and the returned headers are read from the text.
* Anything else with ``Auto-Submitted`` (RFC 3834), an autoresponder's header, or a
  vacation or out-of-office subject is an auto-reply, which changes nothing.
* The rest is not understood: kept for a person to look at.

A DSN's verdict follows the rule for a refusal at send time (``digest.deliver.replies``):
only a permanent failure of the mailbox (5.1.x but the sender's, 5.2.1) is a hard bounce;
a delay or a 4.x.x counts as a soft one, unless it is about us (policy, size, content,
the sender); a permanent refusal about us is never the reader's bounce.

What ties a report to a message we sent is gathered as ``cited``: the addresses it was
delivered to (a VERP return path) and every Message-ID of ours in the returned headers.

    >>> verdict("failed", "5.1.1", "smtp; 550 5.1.1 <ada@example.com>: user unknown")
    <Kind.HARD: 'hard'>
    >>> verdict("delayed", "4.4.1", "smtp; connection timed out")
    <Kind.SOFT: 'soft'>
    >>> verdict("failed", "5.7.1", "smtp; 554 5.7.1 rejected by policy")
    <Kind.IGNORED: 'ignored'>
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from email.message import Message
from email.parser import BytesHeaderParser, HeaderParser
from enum import StrEnum

from digest.deliver.replies import Concern, concern_of, enhanced_code

MAX_BYTES = 2_000_000  # a report larger than this is not read further than its headers
MAX_PARTS = 200  # MIME parts of one report read as text: a real bounce has a handful
OUR_MESSAGE_ID = re.compile(r"<digest\.(\d{4}-W\d{2})\.([0-9a-fA-F]{32})\.([a-zA-Z2-7]{16})@[^>\s]+>")
_STATUS = re.compile(r"(?<![\d.])([245]\.\d{1,3}\.\d{1,3})(?![\d.])")
_CODE = re.compile(r"(?<!\d)([45]\d\d)[ -]")
_ADDRESS = re.compile(r"<?([A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,})>?")
_DAEMON = re.compile(r"^(mailer-daemon|postmaster|mail-daemon|mailerdaemon|mail delivery (sub)?system)\b", re.I)
_BOUNCE_SUBJECT = re.compile(
    r"undeliver|delivery (status notification|failure|has failed|incomplete)|returned mail|failure notice"
    r"|mail delivery failed|could not be delivered|non[- ]?delivery|delivery problem|warning: message",
    re.I,
)
_AUTO_SUBJECT = re.compile(
    r"^\s*(out of (the )?office|automatic reply|auto(matic)?[- ]?reply|auto:|autoresponse|vacation|away from"
    r"|abwesenheit|r[ée]ponse automatique|respuesta autom[aá]tica|fuera de la oficina|absence)",
    re.I,
)
_AUTO_HEADERS = ("x-autoreply", "x-autorespond", "x-auto-response-suppress-replies", "x-vacation")
_COMPLAINT_TYPES = ("abuse", "fraud", "virus", "other")  # not-spam and auth-failure say nothing against us
_DELIVERED_TO = ("delivered-to", "x-original-to", "envelope-to", "x-envelope-to", "to")


class Kind(StrEnum):
    HARD = "hard"  # the mailbox does not exist: the reader is bounced
    SOFT = "soft"  # delayed or refused for now: counts toward delivery.max_soft_failures
    COMPLAINT = "complaint"  # the reader reported the message as spam
    AUTO_REPLY = "auto_reply"  # a vacation or out-of-office reply: nothing to do
    IGNORED = "ignored"  # a report that says nothing against the reader (delivered, refused for our sake)
    UNMATCHED = "unmatched"  # not understood, or tied to no message of ours: kept for review


@dataclass(frozen=True)
class Citation:
    """What in a report may name a message we sent."""

    addresses: tuple[str, ...] = ()  # where the report was delivered, and the original envelope sender
    message_ids: tuple[tuple[str, str, str], ...] = ()  # (week, public id, tag) from our Message-IDs


@dataclass(frozen=True)
class Report:
    kind: Kind
    key: str  # the report's own identity: its Message-ID, else a hash of its bytes
    recipient: str = ""  # the original recipient the report names, when it does
    status: str = ""  # 5.1.1
    detail: str = ""  # one line for a person: the diagnostic, the feedback type, the subject
    cited: Citation = Citation()


def verdict(action: str, status: str, diagnostic: str) -> Kind:
    """A DSN recipient's ``Action``, ``Status`` and ``Diagnostic-Code``, as a kind."""
    action = action.strip().lower()
    code = enhanced_code(status) or enhanced_code(_after_type(diagnostic)) or _enhanced_in(diagnostic)
    if action in ("delivered", "relayed", "expanded"):
        return Kind.IGNORED
    permanent = action == "failed" and (code is None or code[0] == 5)
    text = f"{'.'.join(map(str, code))} {_after_type(diagnostic)}" if code else _after_type(diagnostic)
    basic = _CODE.search(_after_type(diagnostic) + " ")
    smtp = int(basic[1]) if basic else (550 if permanent else 450)
    if permanent and smtp < 500:
        smtp = 550
    concern = concern_of(smtp, text, "RCPT")
    if permanent:
        return Kind.HARD if concern is Concern.MAILBOX else Kind.IGNORED
    if action in ("delayed", "failed") or (code is not None and code[0] == 4):
        about_us = (Concern.SENDER, Concern.AUTH, Concern.POLICY, Concern.SIZE, Concern.CONTENT, Concern.PROTOCOL)
        return Kind.IGNORED if concern in about_us else Kind.SOFT
    return Kind.IGNORED


def parse(raw: bytes) -> Report:
    """What the mail ``raw`` reports; never raises for anything a remote server can send."""
    key = _key(raw)
    try:
        message = email.message_from_bytes(raw[:MAX_BYTES], policy=email.policy.compat32)
        return _read(message, key)
    except Exception as exc:
        return Report(Kind.UNMATCHED, key, detail=f"could not be read: {type(exc).__name__}")


def _key(raw: bytes) -> str:
    head = BytesHeaderParser(policy=email.policy.compat32).parsebytes(raw[:65536], headersonly=True)
    found = str(head.get("Message-ID", "") or "").strip()
    if found and len(found) <= 240 and found.isprintable():
        return found
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def _read(message: Message, key: str) -> Report:
    where = _delivered_to(message)
    if message.get_content_type() == "multipart/report":
        report_type = str(message.get_param("report-type", "") or "").lower()
        if report_type == "feedback-report":
            return _complaint(message, key, where)
        return _dsn(message, key, where)
    if _looks_like_bounce(message):
        return _text_bounce(message, key, where)
    if _is_auto_reply(message):
        return Report(Kind.AUTO_REPLY, key, detail=_one_line(str(message.get("Subject", ""))), cited=Citation(where))
    return Report(Kind.UNMATCHED, key, detail=_one_line("not a report: " + str(message.get("Subject", ""))))


def _dsn(message: Message, key: str, where: tuple[str, ...]) -> Report:
    blocks: list[Message] = []
    returned: list[Message] = []
    for part in _parts(message):
        kind = part.get_content_type()
        if kind in ("message/delivery-status", "message/global-delivery-status"):
            blocks.extend(_status_blocks(part))
        elif kind in ("message/rfc822", "text/rfc822-headers", "message/global", "message/global-headers"):
            returned.append(part)
    recipients = [b for b in blocks[1:] if b.get("Action") or b.get("Status")]
    if not recipients:  # a report in no standard shape: read its text as an old-style bounce
        return _text_bounce(message, key, where)
    ranked = sorted(recipients, key=lambda b: _RANK[_block_kind(b)])
    first = ranked[0]
    recipient = _address_of(str(first.get("Original-Recipient") or first.get("Final-Recipient") or ""))
    diagnostic = _one_line(str(first.get("Diagnostic-Code", "") or ""))
    envelope = _address_of(str(blocks[0].get("X-Original-Envelope-From", "") or "")) if blocks else ""
    return Report(
        _block_kind(first), key, recipient, str(first.get("Status", "") or "").strip()[:16], diagnostic,
        Citation(where + ((envelope,) if envelope else ()), _message_ids(returned)),
    )  # fmt: skip


_RANK = {Kind.HARD: 0, Kind.SOFT: 1, Kind.IGNORED: 2, Kind.COMPLAINT: 3, Kind.AUTO_REPLY: 4, Kind.UNMATCHED: 5}


def _block_kind(block: Message) -> Kind:
    return verdict(str(block.get("Action", "")), str(block.get("Status", "")), str(block.get("Diagnostic-Code", "")))


def _status_blocks(part: Message) -> list[Message]:
    """The per-message and per-recipient field groups of a delivery-status part."""
    payload = part.get_payload()
    if isinstance(payload, list):
        return [p for p in payload if isinstance(p, Message)]
    text = payload if isinstance(payload, str) else ""
    if part.get("Content-Transfer-Encoding", "").lower() in ("base64", "quoted-printable"):
        decoded = part.get_payload(decode=True)
        text = decoded.decode("utf-8", "replace") if isinstance(decoded, bytes) else text
    groups = re.split(r"\r?\n\s*\r?\n", text.strip())
    return [HeaderParser(policy=email.policy.compat32).parsestr(g + "\n") for g in groups if g.strip()]


def _complaint(message: Message, key: str, where: tuple[str, ...]) -> Report:
    fields: Message | None = None
    returned: list[Message] = []
    for part in _parts(message):
        kind = part.get_content_type()
        if kind == "message/feedback-report":
            fields = _feedback_fields(part)
        elif kind in ("message/rfc822", "text/rfc822-headers", "message/global", "message/global-headers"):
            returned.append(part)
    if fields is None:
        return Report(Kind.UNMATCHED, key, detail="a feedback report without its message/feedback-report part")
    feedback_type = str(fields.get("Feedback-Type", "") or "").strip().lower()
    recipient = _address_of(str(fields.get("Original-Rcpt-To") or fields.get("Removal-Recipient") or ""))
    mail_from = _address_of(str(fields.get("Original-Mail-From", "") or ""))
    kind = Kind.COMPLAINT if feedback_type in _COMPLAINT_TYPES else Kind.IGNORED
    cited = Citation(where + ((mail_from,) if mail_from else ()) + _return_paths(returned), _message_ids(returned))
    return Report(kind, key, recipient, "", _one_line(f"feedback-type {feedback_type or '(none)'}"), cited)


def _feedback_fields(part: Message) -> Message:
    payload = part.get_payload()
    if isinstance(payload, list) and payload and isinstance(payload[0], Message):
        return payload[0]
    decoded = part.get_payload(decode=True)
    text = decoded.decode("utf-8", "replace") if isinstance(decoded, bytes) else str(payload)
    return HeaderParser(policy=email.policy.compat32).parsestr(text.strip() + "\n")


def _text_bounce(message: Message, key: str, where: tuple[str, ...]) -> Report:
    """A bounce without a machine-readable part: the first status code in its text, the
    address the text names, and our Message-IDs anywhere in it."""
    text = _all_text(message)
    status_found = _STATUS.search(text)
    status = status_found[1] if status_found else ""
    failed = not status.startswith("4") and not re.search(r"\b(delayed|will retry|still trying)\b", text, re.I)
    action = "failed" if failed else "delayed"
    line = next((ln for ln in text.splitlines() if status and status in ln), "") or _first_reason(text)
    kind = verdict(action, status, line) if status or line else Kind.UNMATCHED
    recipient = _first_recipient(text, where)
    ids = tuple(dict.fromkeys(_cited_id(m) for m in OUR_MESSAGE_ID.finditer(text)))
    return Report(kind, key, recipient, status, _one_line(line), Citation(where, ids))


def _first_reason(text: str) -> str:
    for line in text.splitlines():
        if _CODE.search(line + " ") and re.search(r"user|mailbox|recipient|address|unknown|exist", line, re.I):
            return line
    return ""


def _first_recipient(text: str, where: tuple[str, ...]) -> str:
    ours = {w.lower() for w in where}
    for found in _ADDRESS.finditer(text):
        address = found[1].lower()
        if address not in ours and not _DAEMON.match(address):
            return address
    return ""


def _looks_like_bounce(message: Message) -> bool:
    sender = _address_of(str(message.get("From", "") or "")) or str(message.get("From", ""))
    return bool(_DAEMON.match(sender.split("@")[0]) or _DAEMON.match(str(message.get("From", "")).strip('" '))) or bool(
        _BOUNCE_SUBJECT.search(str(message.get("Subject", "") or ""))
    )


def _is_auto_reply(message: Message) -> bool:
    submitted = str(message.get("Auto-Submitted", "") or "").strip().lower()
    if submitted and submitted != "no":
        return True
    if any(message.get(name) for name in _AUTO_HEADERS):
        return True
    if str(message.get("Precedence", "") or "").strip().lower() == "auto_reply":
        return True
    return bool(_AUTO_SUBJECT.match(str(message.get("Subject", "") or "")))


def _delivered_to(message: Message) -> tuple[str, ...]:
    found: list[str] = []
    for name in _DELIVERED_TO:
        for value in message.get_all(name, []) or []:
            found.extend(m[1] for m in _ADDRESS.finditer(str(value)))
    return tuple(dict.fromkeys(a for a in found))


def _return_paths(parts: Iterable[Message]) -> tuple[str, ...]:
    found: list[str] = []
    for headers in _headers_of(parts):
        found.extend(_address_of(str(v)) for v in headers.get_all("Return-Path", []) or [])
    return tuple(a for a in found if a)


def _cited_id(found: re.Match[str]) -> tuple[str, str, str]:
    return found[1], found[2].lower(), found[3].lower()


def _message_ids(parts: Iterable[Message]) -> tuple[tuple[str, str, str], ...]:
    found: list[tuple[str, str, str]] = []
    for headers in _headers_of(parts):
        for name in ("Message-ID", "References", "In-Reply-To"):
            for value in headers.get_all(name, []) or []:
                found.extend(_cited_id(m) for m in OUR_MESSAGE_ID.finditer(str(value)))
    return tuple(dict.fromkeys(found))


def _headers_of(parts: Iterable[Message]) -> Iterable[Message]:
    for part in parts:
        payload = part.get_payload()
        if isinstance(payload, list):
            yield from (p for p in payload if isinstance(p, Message))
        else:
            decoded = part.get_payload(decode=True)
            text = decoded.decode("utf-8", "replace") if isinstance(decoded, bytes) else str(payload)
            yield HeaderParser(policy=email.policy.compat32).parsestr(text.lstrip())


def _all_text(message: Message) -> str:
    chunks: list[str] = []
    size = 0
    for number, part in enumerate(message.walk()):
        if number >= MAX_PARTS or size > MAX_BYTES:
            break
        if part.is_multipart():
            continue
        if part.get_content_maintype() == "text" or part.get_content_type().startswith("message/"):
            decoded = part.get_payload(decode=True)
            chunks.append(decoded.decode("utf-8", "replace") if isinstance(decoded, bytes) else str(part.get_payload()))
            size += len(chunks[-1])
    for part in _parts(message):  # a returned message attached whole: its headers too
        if part.get_content_type() == "message/rfc822" and isinstance(part.get_payload(), list):
            chunks.extend(str(h) for h in part.get_payload() if isinstance(h, Message))
    return "\n".join(chunks)


def _parts(message: Message) -> Iterable[Message]:
    """The message's MIME parts, the first MAX_PARTS of them."""
    for number, part in enumerate(message.walk()):
        if number >= MAX_PARTS:
            return
        yield part


def _address_of(value: str) -> str:
    """``rfc822; ada@example.com`` or ``<ada@example.com>``: the address, lower case."""
    value = value.split(";", 1)[1] if ";" in value and "@" not in value.split(";", 1)[0] else value
    found = _ADDRESS.search(value)
    return found[1].lower() if found else ""


def _after_type(diagnostic: str) -> str:
    """A Diagnostic-Code without its ``smtp;`` type."""
    head, semicolon, rest = diagnostic.partition(";")
    return rest.strip() if semicolon and len(head) < 12 else diagnostic.strip()


def _enhanced_in(text: str) -> tuple[int, int, int] | None:
    found = _STATUS.search(text)
    return enhanced_code(found[1]) if found else None


def _one_line(text: str) -> str:
    return " ".join(text.split())[:300]
