"""``digest schedule``: ingest, build and send every week, by the cron line in sources.yaml.

The cron line means what crontab(5) says (``digest.cron`` translates it). Jobs live in the
same database (SQLAlchemyJobStore), so a restart keeps the next run time; a run missed
while the scheduler was down runs once on start when within the grace period, otherwise it
is skipped and logged. Two schedulers at once still mail each reader once: the delivery
ledger sees to that, and a lease in the database keeps the second from even starting the
same run."""

from __future__ import annotations

import logging
import os
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import Engine

from digest.config import Config, load_config
from digest.cron import cron_trigger
from digest.db import open_database
from digest.locks import hold_lease
from digest.timeutil import utcnow

log = logging.getLogger("digest.schedule.scheduler")
JOB_ID = "digest-weekly"
STOP = threading.Event()


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
