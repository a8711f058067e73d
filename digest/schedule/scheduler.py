"""``digest schedule``: ingest, build and send every week, by the cron line in sources.yaml.

The cron line means what crontab(5) says: weekday 0 and 7 are Sunday, names are allowed,
and when both day-of-month and day-of-week are restricted either one matching is enough.
APScheduler 3 numbers weekdays from Monday and ANDs the two fields, so the line is
translated here, not passed through. Jobs live in the same database (SQLAlchemyJobStore),
so a restart keeps the next run time; a run missed while the scheduler was down runs once
on start when within the grace period, otherwise it is skipped and logged. Two schedulers
at once still mail each reader once: the delivery ledger sees to that, and a lease in the
database keeps the second from even starting the same run."""

from __future__ import annotations

import logging
import os
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.combining import OrTrigger
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import Engine

from digest.config import Config, load_config
from digest.db import open_database
from digest.errors import ConfigError
from digest.locks import hold_lease
from digest.timeutil import utcnow

log = logging.getLogger("digest.schedule.scheduler")
JOB_ID = "digest-weekly"
STOP = threading.Event()
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
        raise ConfigError("not a 5-field cron line", where="sources.yaml: newsletter.schedule")
    minute, hour, day, month, dow = fields
    try:
        if day != "*" and dow != "*":  # crontab: either field may match
            return OrTrigger([
                CronTrigger(minute=minute, hour=hour, day=day, month=month, timezone=timezone),
                CronTrigger(minute=minute, hour=hour, month=month, day_of_week=weekdays(dow), timezone=timezone),
            ])  # fmt: skip
        return CronTrigger(minute=minute, hour=hour, day=day, month=month, day_of_week=weekdays(dow), timezone=timezone)
    except ValueError as exc:
        raise ConfigError(f"{line!r}: {exc}", where="sources.yaml: newsletter.schedule") from None


def next_runs(config: Config, count: int = 5, after: datetime | None = None) -> list[datetime]:
    trigger = cron_trigger(config.newsletter.schedule, config.newsletter.timezone)
    moment = (after or utcnow()).astimezone(config.newsletter.tz)
    runs: list[datetime] = []
    previous = None
    while len(runs) < count:
        fire = trigger.get_next_fire_time(previous, moment)
        if fire is None:
            break
        runs.append(fire)
        previous, moment = fire, fire + timedelta(seconds=1)
    return runs


def run_weekly(sources: str) -> None:
    """The job: ingest, build, send. Reads the environment afresh (DIGEST_* of the scheduler)."""
    from digest.deliver.send import Hooks, SendOptions
    from digest.week import run_week

    config = load_config(dict(os.environ), Path(sources))
    engine = open_database(config.settings.database_url)
    try:
        with hold_lease(engine, "weekly-run", ttl=3600) as held:
            if not held:
                log.info("another scheduler is running this week's job; this one stands by")
                return
            report = run_week(engine, config, SendOptions(), Hooks(log=log.info, stop=STOP))
            log.info("weekly run: %s", report.to_json())
    finally:
        engine.dispose()


def scheduler_for(engine: Engine, config: Config) -> BackgroundScheduler:
    grace = int(config.newsletter.misfire_grace_hours * 3600)
    return BackgroundScheduler(
        jobstores={"default": SQLAlchemyJobStore(engine=engine, tablename="apscheduler_jobs")},
        timezone=config.newsletter.timezone,
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": grace},
    )


def run_schedule(engine: Engine, config: Config, on_ready: Any = None) -> None:
    """Run until SIGTERM/SIGINT (STOP is set); a running job finishes its messages in flight."""
    trigger = cron_trigger(config.newsletter.schedule, config.newsletter.timezone)
    scheduler = scheduler_for(engine, config)
    scheduler.start(paused=True)
    job = scheduler.get_job(JOB_ID)
    sources = str(config.settings.sources_path.resolve())
    if job is None or str(job.trigger) != str(trigger) or job.kwargs != {"sources": sources}:
        scheduler.add_job(run_weekly, trigger, id=JOB_ID, kwargs={"sources": sources}, replace_existing=True,
                          name="ingest, build and send the weekly digest")  # fmt: skip
    scheduler.resume()
    if on_ready:
        on_ready(scheduler.get_job(JOB_ID))
    try:
        STOP.wait()
    finally:
        scheduler.shutdown(wait=True)
