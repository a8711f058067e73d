"""Time: everything inside digest is an aware datetime in UTC."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

EARLIEST = datetime(1995, 1, 1, tzinfo=UTC)  # before this a job date is a mistake
FUTURE_SLACK = timedelta(days=2)


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """Aware in UTC; a naive datetime is taken to be UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def parse_date(value: Any) -> datetime | None:
    """Read the date forms feeds use: epoch seconds or milliseconds, ISO 8601 with or
    without an offset, RFC 822, ctime-like strings and feedparser's struct_time.
    Returns None when the value is missing or cannot be read."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    if isinstance(value, time.struct_time):
        return datetime(*value[:6], tzinfo=UTC)
    if isinstance(value, int | float):
        return _from_epoch(float(value))
    if isinstance(value, str):
        return _from_text(value.strip())
    return None


def _from_epoch(number: float) -> datetime | None:
    if number > 1e11:  # milliseconds (Lever's createdAt)
        number /= 1000
    try:
        return datetime.fromtimestamp(number, UTC)
    except (OverflowError, OSError, ValueError):
        return None


_CTIME_FORMATS = (
    "%a %b %d %H:%M:%S UTC %Y",
    "%a %b %d %H:%M:%S %Y",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d",
)


def _from_text(text: str) -> datetime | None:
    if not text:
        return None
    if re.fullmatch(r"\d{9,13}(\.\d+)?", text):
        return _from_epoch(float(text))
    try:
        return as_utc(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError:
        pass
    try:
        return as_utc(parsedate_to_datetime(text))
    except (TypeError, ValueError, IndexError):
        pass
    for fmt in _CTIME_FORMATS:
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    return None


def plausible(value: datetime | None, now: datetime) -> datetime | None:
    """The date, or None when it is absurd: before 1995 or more than two days ahead."""
    if value is None or value < EARLIEST or value > now + FUTURE_SLACK:
        return None
    return value
