"""Typed readers of a webhook request's fields, shared by the providers' hooks
(``digest.feedback.sns``, ``digest.feedback.providers``): JSON values, headers, base64
signatures and timestamps. Each gives the field as its type or refuses the request with a
``HookRefused`` (400 for a field that is missing, mistyped or too long; 403 for a bad
signature or a stale timestamp), so a payload never breaks a hook another way."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from email.utils import parseaddr

from digest.feedback.hooks import HookRefused

MAX_BODY = 2_000_000  # bytes of a request body; SNS sends at most 256 KB, SendGrid batches about 768 KB
_ADDRESS = re.compile(r"[^@\s<>]+@[^@\s<>]+")


def json_of(data: bytes | str, what: str) -> object:
    """``data`` parsed as JSON; 400 when it is not, or larger than MAX_BODY."""
    if len(data) > MAX_BODY:
        raise HookRefused(400, f"{what} is larger than {MAX_BODY} bytes")
    try:
        return json.loads(data)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise HookRefused(400, f"{what} is not JSON") from None


def object_of(value: object, what: str) -> dict[str, object]:
    """``value`` when it is a JSON object; 400 otherwise."""
    if not isinstance(value, dict):
        raise HookRefused(400, f"{what} is not a JSON object")
    return value


def items_of(obj: dict[str, object], key: str, required: bool = True) -> list[object]:
    """An array field ([] for a missing optional one); 400 when it is not an array."""
    value = obj.get(key, None if required else [])
    if not isinstance(value, list):
        raise HookRefused(400, f"{key} is not a JSON array")
    return value


def text_of(obj: dict[str, object], key: str, required: bool = True, limit: int = 4096) -> str:
    """A string field ("" for a missing or null optional one); 400 when it is not a string, or too long."""
    value = obj.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise HookRefused(400, f"{key} is {'missing' if value is None else 'not a string'}")
    if len(value) > limit:
        raise HookRefused(400, f"{key} is longer than {limit} characters")
    return value


def ident_of(obj: dict[str, object], key: str) -> str:
    """An id field, a string or an integer (not a boolean) of 1 to 256 characters; 400 otherwise."""
    value = obj.get(key)
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else text_of(obj, key, limit=256)
    if not text or len(text) > 256:
        raise HookRefused(400, f"{key} is not an id")
    return text


def address_of(obj: dict[str, object], key: str) -> str:
    """An email address field ("Name <addr>" too), lower-cased; 400 when it holds no address."""
    address = parseaddr(text_of(obj, key, limit=320))[1].strip().lower()
    if not _ADDRESS.fullmatch(address):
        raise HookRefused(400, f"{key} is not an email address")
    return address


def message_id_of(text: str) -> str | None:
    """A Message-ID in angle brackets, adding them when missing; None for an empty one."""
    text = text.strip()
    return (text if text.startswith("<") else f"<{text}>") if text else None


def line_of(*parts: str) -> str:
    """The non-blank parts on one line, joined by ": ", whitespace collapsed, at most 300 characters."""
    return ": ".join(" ".join(part.split()) for part in parts if part.strip())[:300]


def lowered(headers: Mapping[str, str]) -> dict[str, str]:
    """The headers by lower-cased name."""
    return {name.lower(): value for name, value in headers.items()}


def signature_of(text: str, provider: str) -> bytes:
    """A base64 signature's bytes; 403 when it is not base64."""
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error:
        raise HookRefused(403, f"the {provider} signature is not base64") from None


def fresh(when: datetime, now: datetime, window: tuple[timedelta, timedelta], what: str) -> None:
    """403 unless ``when`` is at most ``window[0]`` before ``now`` and ``window[1]`` after it."""
    if when < now - window[0]:
        raise HookRefused(403, f"{what} is too old (a replay?)")
    if when > now + window[1]:
        raise HookRefused(403, f"{what} is in the future")
