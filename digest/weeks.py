"""ISO weeks ("2026-W48") in the newsletter's timezone."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from digest.errors import InputError

_WEEK = re.compile(r"(\d{4})-?W(\d{2})")


def week_of(moment: datetime, tz: ZoneInfo) -> str:
    year, week, _ = moment.astimezone(tz).isocalendar()
    return f"{year}-W{week:02d}"


def parse_week(text: str) -> str:
    """Validate and normalise a week name; ``InputError`` names the expected form."""
    match = _WEEK.fullmatch(text.strip().upper())
    if not match:
        raise InputError(f"--week: {text!r} is not an ISO week such as 2026-W48")
    year, week = int(match.group(1)), int(match.group(2))
    try:
        date.fromisocalendar(year, week, 1)
    except ValueError:
        raise InputError(f"--week: {year} has no week {week}") from None
    return f"{year}-W{week:02d}"


def following(week: str) -> str:
    """The week after ``week``."""
    year, number = int(week[:4]), int(week[-2:])
    return week_of_date(date.fromisocalendar(year, number, 1) + timedelta(days=7))


def week_of_date(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"
