"""Cron lines as crontab(5) means them, for APScheduler 3.

Weekday 0 and 7 are Sunday, names are allowed, and when both day-of-month and day-of-week
are restricted either one matching is enough. APScheduler 3 numbers weekdays from Monday
and ANDs the two fields, so the line is translated here, not passed through. The
configuration checks the line with this when it is loaded, so every command refuses a bad
one, not only ``digest schedule``."""

from __future__ import annotations

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.combining import OrTrigger
from apscheduler.triggers.cron import CronTrigger

from digest.errors import ConfigError

WHERE = "sources.yaml: newsletter.schedule"
_DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
_NAMES = {name: n for n, name in enumerate(_DAYS)}


def _weekday(token: str) -> int:
    token = token.strip().lower()
    if token in _NAMES:
        return _NAMES[token]
    if token.isdigit() and 0 <= int(token) <= 7:
        return int(token) % 7
    raise ValueError(f"day of week {token!r} is not 0-7 or a name such as mon")


def weekdays(field: str) -> str:
    """A crontab(5) day-of-week field as APScheduler names: '1-5' -> 'mon,tue,wed,thu,fri'."""
    if field.strip() == "*":
        return "*"
    days: set[int] = set()
    for part in field.split(","):
        base, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if base == "*":
            first, last = 0, 6
        elif "-" in base:
            start, end = base.split("-", 1)
            first, last = _weekday(start), int(end) if end.strip() == "7" else _weekday(end)
        else:
            first = last = _weekday(base)
        if last < first:
            raise ValueError(f"day-of-week range {base!r} runs backwards")
        days.update(d % 7 for d in range(first, last + 1, step))
    return ",".join(_DAYS[d] for d in sorted(days, key=lambda d: (d + 6) % 7))


def cron_trigger(line: str, timezone: str) -> BaseTrigger:
    """crontab(5) semantics on APScheduler 3."""
    fields = line.split()
    if len(fields) != 5:
        raise ConfigError("not a 5-field cron line", where=WHERE)
    minute, hour, day, month, dow = fields
    try:
        if day != "*" and dow != "*":  # crontab: either field may match
            return OrTrigger([
                CronTrigger(minute=minute, hour=hour, day=day, month=month, timezone=timezone),
                CronTrigger(minute=minute, hour=hour, month=month, day_of_week=weekdays(dow), timezone=timezone),
            ])  # fmt: skip
        return CronTrigger(minute=minute, hour=hour, day=day, month=month, day_of_week=weekdays(dow), timezone=timezone)
    except ValueError as exc:
        raise ConfigError(f"{line!r}: {exc}", where=WHERE) from None
