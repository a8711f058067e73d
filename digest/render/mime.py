"""The exact bytes of a message: headers written by digest, bodies in quoted-printable.

Two Python pitfalls are avoided by writing the top-level headers ourselves:
``policy.SMTP`` RFC 2047-encodes a long ``<https://...>`` in List-Unsubscribe (providers
then miss the link), and raising ``max_line_length`` for the whole message lets body
lines grow past RFC 2045's 76 characters. Here each header is folded on its own terms and
the bodies are quoted-printable with lines of at most 76 characters."""

from __future__ import annotations

import binascii
import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from email.header import Header
from email.utils import format_datetime, formataddr, parseaddr
from functools import lru_cache

CRLF = "\r\n"
_UNSAFE = re.compile(r"[\r\n\x00-\x1f\x7f]")


def clean(value: str) -> str:
    """One header-safe line: CR, LF and other control characters become spaces."""
    return " ".join(_UNSAFE.sub(" ", value).split())


@lru_cache(maxsize=4096)  # subjects repeat per segment
def encode_words(value: str, name: str) -> str:
    """A header value, RFC 2047-encoded only when it is not ASCII, folded at 76 characters."""
    value = clean(value)
    charset = "us-ascii" if value.isascii() else "utf-8"
    return Header(value, charset, header_name=name).encode(linesep=CRLF)


@lru_cache(maxsize=64)
def _from_header(name: str, email: str) -> str:
    return address(name, email)


@lru_cache(maxsize=8)  # one per second of sending
def _date_header(date: datetime) -> str:
    return format_datetime(date)


def address(name: str, email: str) -> str:
    """``Name <email>`` with the name encoded when needed; the address itself is never folded."""
    return formataddr((clean(name), clean(email)), charset="utf-8")


@dataclass(frozen=True)
class Envelope:
    sender: str  # "Name <address>", as in sources.yaml
    to_name: str
    to_address: str
    subject: str
    message_id: str
    date: datetime
    unsubscribe_url: str
    list_id: str = ""
    feedback_id: str = ""
    reply_to: str | None = None


@lru_cache(maxsize=64)
def sender_parts(sender: str) -> tuple[str, str, str]:
    """(name, address, domain) of the From line, parsed once."""
    name, address = parseaddr(sender)
    return name, address, address.rpartition("@")[2] or "localhost"


def message_id(week: str, public_id: str, sender: str, tag: str) -> str:
    """Deterministic per (issue, reader), and naming the reader's public id, never the row
    id: a resend carries the same Message-ID, and it says nothing of the list's size. ``tag``
    (``Signer.message_tag``) signs it, so a bounce report citing it is known to be ours."""
    domain = sender_parts(sender)[2]
    return f"<digest.{week}.{public_id}.{tag}@{domain}>"


def list_headers(newsletter_name: str, sender: str) -> tuple[str, str]:
    """(List-Id, Feedback-ID): both stable for the newsletter, never per message."""
    domain = sender_parts(sender)[2]
    slug = re.sub(r"[^a-z0-9]+", "-", newsletter_name.lower()).strip("-") or "digest"
    label = clean(newsletter_name).replace('"', "'")
    return f'"{label}" <{slug}.{domain}>', f"weekly:{slug}:digest:{domain}"


def quoted_printable(text: str) -> bytes:
    data = text.replace("\r\n", "\n").replace("\r", "\n").encode("utf-8")
    return binascii.b2a_qp(data, istext=True).replace(b"\n", b"\r\n")


class BodyTemplate:
    """A body encoded once, with holes for per-reader values.

    The text around the holes is quoted-printable encoded once per segment; each piece
    ends with a soft line break, so a reader's values (encoded on their own, a few bytes)
    drop in between without any line passing 76 characters and without re-encoding the
    rest. Decoded, the pieces join seamlessly."""

    def __init__(self, text: str, tokens: tuple[str, ...]) -> None:
        pattern = "(" + "|".join(re.escape(t) for t in tokens) + ")"
        self.parts: list[bytes | str] = [
            part if part in tokens else _qp_piece(part) for part in re.split(pattern, text) if part
        ]
        self.stuffed_parts = [p if isinstance(p, str) else dot_stuffed(p) for p in self.parts]

    def fill(self, values: dict[str, str], stuffed: bool = False) -> bytes:
        """The body with ``values`` in its holes; ``stuffed``: dot-stuffed for SMTP DATA. Every
        piece starts a line (the one before ends in a soft line break), so stuffing each piece
        on its own is stuffing the whole."""
        encoded = {token: _qp_piece(value) for token, value in values.items()}  # once each, however many holes
        if stuffed:
            encoded = {token: dot_stuffed(value) for token, value in encoded.items()}
            return b"".join(p if isinstance(p, bytes) else encoded[p] for p in self.stuffed_parts)
        return b"".join(p if isinstance(p, bytes) else encoded[p] for p in self.parts)


def _qp_piece(text: str) -> bytes:
    return quoted_printable(text) + b"=\r\n"


def dot_stuffed(data: bytes) -> bytes:
    """RFC 5321 4.5.2: a line that starts with a dot gets a second one."""
    payload = data.replace(b"\n.", b"\n..")
    return b"." + payload if payload.startswith(b".") else payload


def headers(envelope: Envelope) -> list[tuple[str, str]]:
    sender_name, sender_address, _ = sender_parts(envelope.sender)
    unsubscribe = f"<{clean(envelope.unsubscribe_url)}>"
    fields = [
        ("From", _from_header(sender_name, sender_address)),
        ("To", address(envelope.to_name, envelope.to_address)),
        ("Subject", encode_words(envelope.subject, "Subject")),
        ("Date", _date_header(envelope.date.replace(microsecond=0))),
        ("Message-ID", clean(envelope.message_id)),
        ("List-Unsubscribe", unsubscribe),
        ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
    ]
    if envelope.list_id:
        fields.append(("List-Id", clean(envelope.list_id)))
    if envelope.feedback_id:
        fields.append(("Feedback-ID", clean(envelope.feedback_id)))
    if envelope.reply_to:
        fields.append(("Reply-To", clean(envelope.reply_to)))
    return fields


def assemble(envelope: Envelope, text_qp: bytes, html_qp: bytes) -> bytes:
    """The message from bodies already in quoted-printable."""
    boundary = "=_digest_" + hashlib.sha256(envelope.message_id.encode()).hexdigest()[:24]
    head = "".join(f"{name}: {value}{CRLF}" for name, value in headers(envelope))
    head += f'MIME-Version: 1.0{CRLF}Content-Type: multipart/alternative; boundary="{boundary}"{CRLF}{CRLF}'
    parts = [head.encode("utf-8")]  # ASCII but for an internationalised address (SMTPUTF8)
    for subtype, body in (("plain", text_qp), ("html", html_qp)):
        parts.append(
            f'--{boundary}{CRLF}Content-Type: text/{subtype}; charset="utf-8"{CRLF}'
            f"Content-Transfer-Encoding: quoted-printable{CRLF}{CRLF}".encode("ascii")
        )
        parts.append(body if body.endswith(b"\r\n") else body + CRLF.encode())
    parts.append(f"--{boundary}--{CRLF}".encode("ascii"))
    return b"".join(parts)
