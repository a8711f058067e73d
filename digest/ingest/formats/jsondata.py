"""Reading JSON documents from feeds, and getting at values inside them."""

from __future__ import annotations

import json
from typing import Any

from digest.errors import ParseError


def load_json(body: bytes) -> Any:
    """Decode a JSON document. Leading ``//`` comment lines (left by browser JSON viewers) are
    skipped; anything else that is not JSON is a ParseError with the position."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ParseError(f"not UTF-8 text (byte {exc.start})") from None
    lines = text.split("\n")
    skipped = 0
    while skipped < len(lines) and lines[skipped].lstrip().startswith("//"):
        skipped += 1
    if skipped:
        text = "\n" * skipped + "\n".join(lines[skipped:])
    if not text.strip():
        raise ParseError("empty document")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ParseError(f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except RecursionError:
        raise ParseError("invalid JSON: nested too deeply") from None


def dig(item: Any, path: str | None) -> Any:
    """The value at a dotted path (``location.name``, ``offices.0.name``), or None."""
    if not path:
        return None
    value = item
    for part in path.split("."):
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


def as_text(value: Any) -> str | None:
    """A scalar as text; a list of scalars joined with commas; anything else None."""
    if value is None or isinstance(value, dict):
        return None
    if isinstance(value, list):
        return ", ".join(t for t in (as_text(v) for v in value) if t) or None
    return str(value)


def as_list(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value if isinstance(v, str | int | float) and str(v).strip()]
    if isinstance(value, str):
        return [part.strip() for part in value.replace(";", ",").split(",") if part.strip()]
    return []


def items_at(data: Any, path: str, label: str) -> list[Any]:
    """The list of items at ``path`` (the document itself when empty)."""
    items = dig(data, path) if path else data
    if not isinstance(items, list):
        where = f"at {path!r}" if path else "at the top level"
        raise ParseError(f"{label}: expected a list of items {where}")
    return items
