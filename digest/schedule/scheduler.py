"""``digest schedule``: ingest, build and send every week, by the cron line in sources.yaml.

The cron line means what crontab(5) says (``digest.cron`` translates it). Jobs live in the
same database (SQLAlchemyJobStore), so a restart keeps the next run time; a run missed
while the scheduler was down runs once on start when within the grace period, otherwise it
is skipped and logged. Two schedulers at once still mail each reader once: the delivery
ledger sees to that, and a lease in the database keeps the second from even starting the
same run."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from digest.config import Config, Settings, load_config
from digest.cron import cron_trigger
from digest.db import create_db_engine, migrate
from digest.errors import ConfigError, DigestError
from digest.locks import hold_lease
from digest.schedule.runs import BEAT_EVERY, LastRun, beat, holder_name, record_run, stop_beating
from digest.timeutil import utcnow
from digest.weeks import week_of

log = logging.getLogger("digest.schedule.scheduler")
JOB_ID = "digest-weekly"
STOP = threading.Event()  # the scheduler stops (a signal, or a configuration it cannot run)
RUNS: set[threading.Event] = set()  # each run's own stop: a run that fails stops only itself
FATAL: list[ConfigError] = []  # why the scheduler stopped itself, raised by run_schedule
RETRY_MOST = 1800.0  # seconds between two attempts at most


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
    """The job: ingest, build, send. Reads the environment afresh (DIGEST_* of the scheduler).

    A failed attempt is written as the last run and logged in one line, then tried again
    after newsletter.retry_minutes, twice as long each time (at most RETRY_MOST), for as long
    as the misfire grace after the scheduled time allows. A sources.yaml that no longer loads
    stops the scheduler (FATAL): it cannot run any week until someone fixes it."""
    settings = Settings.from_env(dict(os.environ))
    engine = create_db_engine(settings.database_url)
    try:
        _attempts(engine, sources)
    finally:
        engine.dispose()


def _attempts(engine: Engine, sources: str) -> None:
    started, attempt, week = utcnow(), 0, None
    while not STOP.is_set():
        attempt += 1
        try:
            config = load_config(dict(os.environ), Path(sources))
        except ConfigError as exc:
            _note(engine, LastRun(at=_iso(utcnow()), week=None, status="failed", error=str(exc), attempt=attempt))
            log.error("the weekly run cannot start: %s; the scheduler stops (fix the file and start it again)", exc)
            FATAL.append(exc)
            STOP.set()
            return
        week = week or week_of(_scheduled(config, started), config.newsletter.tz)  # every retry: the same week
        stop = threading.Event()  # each attempt its own: a run that aborted does not stop the next
        RUNS.add(stop)
        try:
            status = _attempt(engine, config, week, stop)
        except Exception as exc:  # a failed run, whatever the cause, must not end the scheduler
            error = str(exc) if isinstance(exc, DigestError) else f"{type(exc).__name__}: {exc}"
            if not isinstance(exc, DigestError):  # a bug: its traceback is for whoever fixes it
                log.error("the weekly run failed unexpectedly", exc_info=True)
        else:
            RUNS.discard(stop)
            if status is not None:
                _note(engine, LastRun(at=_iso(utcnow()), week=week, status=status, attempt=attempt))
            return
        RUNS.discard(stop)
        delay = min(config.newsletter.retry_minutes * 60 * 2 ** (attempt - 1), RETRY_MOST)
        retry_at = utcnow() + timedelta(seconds=delay)
        if retry_at > _scheduled(config, started) + timedelta(hours=config.newsletter.misfire_grace_hours):
            _note(engine, LastRun(at=_iso(utcnow()), week=week, status="failed", error=error, attempt=attempt))
            log.error("weekly run for %s failed (attempt %d): %s; no time left to retry before the misfire "
                      "grace ends: the next run is the next scheduled one", week, attempt, error)  # fmt: skip
            return
        _note(engine, LastRun(at=_iso(utcnow()), week=week, status="failed", error=error, attempt=attempt,
                              retry_at=_iso(retry_at)))  # fmt: skip
        log.error("weekly run for %s failed (attempt %d): %s; retrying at %s", week, attempt, error,
                  retry_at.astimezone(config.newsletter.tz).strftime("%H:%M:%S %Z"))  # fmt: skip
        if STOP.wait(delay):
            return


def _attempt(engine: Engine, config: Config, week: str, stop: threading.Event) -> str | None:
    """One run under the lease: the status to record, or None when another scheduler runs it."""
    from digest.deliver.send import Hooks, SendOptions
    from digest.week import run_week

    migrate(engine)
    with hold_lease(engine, "weekly-run", ttl=3600) as held:
        if not held:
            log.info("another scheduler is running this week's job; this one stands by")
            return None
        report = run_week(engine, config, SendOptions(week=week), Hooks(log=log.info, stop=stop))
    log.info("weekly run: %s", report.to_json())
    if config.file.bounces.after_send:
        read_bounces_after_send(engine, config)
    if report.status in ("stopped", "skipped"):
        return str(report.status)
    return "incomplete" if report.exit_code else "sent"


def read_bounces_after_send(engine: Engine, config: Config) -> None:
    """``bounces.after_send``: read the bounce mailbox once the send is done. Its failure is
    logged and never fails the weekly run (the next run reads what is left)."""
    from digest.feedback.run import configured_mailbox, has_mailbox, read_bounces

    if not has_mailbox(config):
        log.error("bounces.after_send is set but no mailbox is: give bounces.maildir or bounces.imap")
        return
    try:
        tally = read_bounces(engine, config, configured_mailbox(config))
    except DigestError as exc:
        log.error("reading the bounce mailbox after the send failed: %s; the next run tries again", exc)
        return
    log.info("bounces after the send: %s", tally.to_json())


def _scheduled(config: Config, moment: datetime) -> datetime:
    """The scheduled time of the run that started at ``moment``: the last fire time at or before it."""
    trigger = cron_trigger(config.newsletter.schedule, config.newsletter.timezone)
    grace = timedelta(hours=config.newsletter.misfire_grace_hours)
    latest, previous = moment, None
    fire = trigger.get_next_fire_time(None, (moment - grace).astimezone(config.newsletter.tz))
    while fire is not None and fire <= moment:
        latest, previous = fire, fire
        fire = trigger.get_next_fire_time(previous, fire + timedelta(seconds=1))
    return latest


def _note(engine: Engine, run: LastRun) -> None:
    try:
        record_run(engine, run)
    except DigestError as exc:
        log.error("cannot record the last run (%s): %s", run.status, exc)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def stop_all() -> None:
    """SIGTERM, SIGINT: the scheduler stops, and a run in progress finishes its messages in flight."""
    STOP.set()
    for run in list(RUNS):
        run.set()


def scheduler_for(engine: Engine, config: Config) -> BackgroundScheduler:
    grace = int(config.newsletter.misfire_grace_hours * 3600)
    store = SQLAlchemyJobStore(engine=engine, tablename="apscheduler_jobs")
    _create_job_table(engine, store)
    return BackgroundScheduler(
        jobstores={"default": store},
        timezone=config.newsletter.timezone,
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": grace},
    )


def _create_job_table(engine: Engine, store: SQLAlchemyJobStore) -> None:
    """APScheduler's table, made before its store looks for it: two schedulers starting at
    once both find it missing and both create it, and the second would fail on "already exists"."""
    try:
        store.jobs_t.create(engine, checkfirst=True)
    except SQLAlchemyError:
        if not sqlalchemy.inspect(engine).has_table(store.jobs_t.name):
            raise  # not the race: a real failure


def run_schedule(engine: Engine, config: Config, on_ready: Any = None) -> None:
    """Run until SIGTERM/SIGINT (``stop_all``); a running job finishes its messages in flight.
    Raises the ConfigError that made a run stop the scheduler."""
    trigger = cron_trigger(config.newsletter.schedule, config.newsletter.timezone)
    scheduler = scheduler_for(engine, config)
    scheduler.start(paused=True)
    job = scheduler.get_job(JOB_ID)
    sources = str(config.settings.sources_path.resolve())
    if job is None or str(job.trigger) != str(trigger) or job.kwargs != {"sources": sources}:
        scheduler.add_job(run_weekly, trigger, id=JOB_ID, kwargs={"sources": sources}, replace_existing=True,
                          name="ingest, build and send the weekly digest")  # fmt: skip
    scheduler.resume()
    holder = holder_name()
    heart = threading.Thread(target=_heartbeat, args=(engine, holder), name="digest-heartbeat", daemon=True)
    heart.start()
    if on_ready:
        on_ready(scheduler.get_job(JOB_ID))
    try:
        STOP.wait()
    finally:
        scheduler.shutdown(wait=True)
        heart.join(timeout=5)
        with contextlib.suppress(DigestError):
            stop_beating(engine, holder)
    if FATAL:
        raise FATAL[0]


def _heartbeat(engine: Engine, holder: str) -> None:
    """``digest schedule --show`` says a scheduler is running while this beats."""
    failing = False
    while not STOP.is_set():
        try:
            beat(engine, holder)
            failing = False
        except DigestError as exc:
            if not failing:
                log.error("cannot write the heartbeat: %s", exc)
            failing = True
        STOP.wait(BEAT_EVERY)
