"""The weekly schedule: crontab(5) meaning, restarts and missed runs, two schedulers at once."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from apscheduler.events import EVENT_JOB_EXECUTED, EVENT_JOB_MISSED
from sqlalchemy import Engine
from sqlmodel import Session, select

from digest.config import Config
from digest.cron import cron_trigger, weekdays
from digest.models import Delivery, Subscriber
from digest.schedule.runs import last_run
from digest.schedule.scheduler import _scheduled, next_runs, scheduler_for
from tests.conftest import ROOT, config_for, write_config
from tests.helpers import add_reader
from tests.smtpserver import free_port, smtp_server

pytestmark = pytest.mark.dates

CALLS: list[str] = []


def record_run(tag: str) -> None:
    CALLS.append(tag)


@pytest.mark.parametrize(
    ("field", "expected"),
    [("0", "sun"), ("7", "sun"), ("1-5", "mon,tue,wed,thu,fri"), ("5-7", "fri,sat,sun"), ("0-2", "mon,tue,sun"),
     ("*/2", "tue,thu,sat,sun"), ("mon,wed", "mon,wed"), ("SUN", "sun"), ("*", "*")],
)  # fmt: skip
def test_weekdays_mean_what_crontab_says(field: str, expected: str) -> None:
    assert weekdays(field) == expected


def test_next_runs_in_the_newsletter_timezone(tmp_path: Path) -> None:
    config = config_for(tmp_path, "newsletter: {schedule: '0 9 * * 1', timezone: America/New_York}\n")
    runs = next_runs(config, 3, after=datetime(2026, 11, 26, 12, tzinfo=UTC))  # a Thursday
    assert [r.strftime("%a %Y-%m-%d %H:%M %Z") for r in runs] == [
        "Mon 2026-11-30 09:00 EST", "Mon 2026-12-07 09:00 EST", "Mon 2026-12-14 09:00 EST"]  # fmt: skip
    sunday = config_for(tmp_path, "newsletter: {schedule: '30 8 * * 0', timezone: Europe/London}\n")
    assert next_runs(sunday, 1, after=datetime(2026, 11, 26, tzinfo=UTC))[0].strftime("%a %H:%M") == "Sun 08:30"
    either = cron_trigger("0 9 1 * mon", "UTC")  # crontab: the 1st of the month OR a Monday
    fire = either.get_next_fire_time(None, datetime(2026, 11, 26, tzinfo=UTC))
    assert fire is not None and fire.strftime("%a %d") == "Mon 30"


def test_schedule_show(tmp_path: Path, env: dict[str, str]) -> None:
    shutil.copy(ROOT / "sources.yaml", tmp_path)
    result = subprocess.run([sys.executable, "-m", "digest", "schedule", "--show"], env={**env, "PATH": "/usr/bin:/bin"},
                            cwd=tmp_path, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode == 0 and "next runs:" in result.stdout and " 09:00 " in result.stdout


def _run_with_missed(engine: Engine, config: Config, down_for: float) -> tuple[list[str], list[int]]:
    """A scheduler stores a job due in half a second and stops; it is down for ``down_for``
    seconds, so the run is missed; then a new scheduler starts on the same database."""
    CALLS.clear()
    events: list[int] = []
    first = scheduler_for(engine, config)
    first.start()
    first.add_job(record_run, cron_trigger("0 9 * * mon", "UTC"), id="t", kwargs={"tag": "run"},
                  replace_existing=True, next_run_time=datetime.now(UTC) + timedelta(seconds=0.5))  # fmt: skip
    first.shutdown(wait=True)
    time.sleep(down_for)
    restarted = scheduler_for(engine, config)
    restarted.add_listener(lambda e: events.append(e.code), EVENT_JOB_EXECUTED | EVENT_JOB_MISSED)
    restarted.start()
    time.sleep(1.0)
    job = restarted.get_job("t")
    restarted.shutdown(wait=True)
    assert job is not None and job.next_run_time > datetime.now(UTC), "the next run is in the future again"
    return list(CALLS), events


def test_a_missed_run_within_grace_runs_once_on_start(engine: Engine, tmp_path: Path) -> None:
    config = config_for(tmp_path, "newsletter: {misfire_grace_hours: 0.01}\n")  # 36 s
    calls, events = _run_with_missed(engine, config, down_for=2)
    assert calls == ["run"] and events == [EVENT_JOB_EXECUTED]


def test_a_run_missed_beyond_grace_is_skipped_and_logged(
    engine: Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = config_for(tmp_path, "newsletter: {misfire_grace_hours: 0.0003}\n")  # about 1 s
    calls, events = _run_with_missed(engine, config, down_for=3)
    assert calls == [] and events == [EVENT_JOB_MISSED]
    assert any("was missed by" in r.getMessage() for r in caplog.records)


@pytest.mark.slow
def test_two_schedulers_every_minute_mail_each_reader_once(
    engine: Engine, sample_config: Config, env: dict[str, str]
) -> None:
    """Two `digest schedule` processes side by side for a little over two minutes."""
    readers = [add_reader(engine, f"r{i}@example.com", f"Reader {i}").email for i in range(30)]
    sources = Path(sample_config.settings.sources_path)
    sources.write_text(sources.read_text().replace('schedule: "0 9 * * mon"', 'schedule: "* * * * *"'))
    with smtp_server() as sink:
        full = {**os.environ, **env, "DIGEST_SOURCES": str(sources), "DIGEST_SMTP_URL": f"smtp://127.0.0.1:{sink.port}"}
        processes = [subprocess.Popen([sys.executable, "-m", "digest", "schedule"], env=full, cwd=sources.parent,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]  # fmt: skip
        time.sleep(15)
        add_reader(engine, "late@example.com", "Late Reader")  # joins after the first run: gets the next one
        deadline = time.monotonic() + 140
        while time.monotonic() < deadline and sink.received().get("late@example.com", 0) == 0:
            time.sleep(1)
        time.sleep(5)
        for process in processes:
            process.send_signal(signal.SIGTERM)
        outputs = [p.communicate(timeout=60) for p in processes]
        received = sink.received()
    assert all(p.returncode == 0 for p in processes), outputs
    assert received == {a: 1 for a in [*readers, "late@example.com"]}, outputs
    with Session(engine) as session:
        assert set(session.exec(select(Delivery.status)).all()) == {"sent"}
        assert session.exec(select(Subscriber).where(Subscriber.email == "late@example.com")).one()


def _show(env: dict[str, str], cwd: Path) -> dict[str, object]:
    shown = subprocess.run([sys.executable, "-m", "digest", "schedule", "--show", "--json"], env=env, cwd=cwd,
                           capture_output=True, text=True, timeout=60)  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    return dict(json.loads(shown.stdout))


@pytest.mark.slow
def test_a_failed_run_keeps_the_scheduler_running_and_is_retried(
    engine: Engine, sample_config: Config, env: dict[str, str]
) -> None:
    """The Monday the relay is down: the run fails, the scheduler stays up and says so in
    `schedule --show --json`, and a retry completes the week once the relay is back."""
    readers = [add_reader(engine, f"r{i}@example.com", f"Reader {i}").email for i in range(5)]
    sources = Path(sample_config.settings.sources_path)
    text = sources.read_text().replace('schedule: "0 9 * * mon"', 'schedule: "* * * * *"')
    sources.write_text(text.replace("newsletter:\n", "newsletter:\n  retry_minutes: 0.05\n", 1))  # 3 s, then 6 s...
    port = free_port()  # nothing listens there yet: the relay is down
    full = {**os.environ, **env, "DIGEST_SOURCES": str(sources), "DIGEST_SMTP_URL": f"smtp://127.0.0.1:{port}"}
    process = subprocess.Popen([sys.executable, "-m", "digest", "schedule"], env=full, cwd=sources.parent,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        shown: dict[str, Any] = {}
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            shown = _show(full, sources.parent)
            if shown["last_run"]:
                break
            time.sleep(1)
        last = shown["last_run"]
        assert last and last["status"] == "failed" and f"127.0.0.1:{port}" in last["error"], shown
        assert last["retry_at"] and shown["running"] is True and len(shown["next_runs"]) == 5
        time.sleep(4)
        assert process.poll() is None, "the scheduler is still running after the failed run"
        assert _show(full, sources.parent)["last_run"]["attempt"] >= 2, "it tried again"  # type: ignore[index]
        with smtp_server(port=port) as relay:  # the relay is back
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and set(relay.received()) != set(readers):
                time.sleep(0.5)
            shown = _show(full, sources.parent)
            received = relay.received()
    finally:
        process.send_signal(signal.SIGTERM)
        _, errors = process.communicate(timeout=60)
    assert received == {a: 1 for a in readers}, errors
    assert shown["last_run"]["status"] == "sent" and shown["last_run"]["error"] is None, shown  # type: ignore[index]
    assert shown["last_run"]["attempt"] >= 2, "a retry of the same run sent it (each attempt has its own stop)"  # type: ignore[index]
    assert process.returncode == 0, errors
    assert "Traceback" not in errors and "failed (attempt 1)" in errors, errors
    assert _show(full, sources.parent)["running"] is False, "a stopped scheduler is not running"


def test_retries_stop_where_the_misfire_grace_ends(tmp_path: Path) -> None:
    config = config_for(tmp_path, "newsletter: {schedule: '0 9 * * mon', misfire_grace_hours: 2}\n")
    monday = datetime(2026, 11, 30, 9, 0, 5, tzinfo=UTC)
    assert _scheduled(config, monday + timedelta(minutes=90)) == monday - timedelta(seconds=5)
    assert _scheduled(config, monday) == monday - timedelta(seconds=5)


def test_a_sources_file_that_breaks_stops_the_scheduler_with_its_error(
    engine: Engine, tmp_path: Path, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The only failure a retry cannot mend: the scheduler stops, and says why as the last run."""
    from digest.schedule import scheduler

    for key, value in env.items():
        monkeypatch.setenv(key, value)
    write_config(tmp_path, "newsletter: {schedule: '0 25 * * mon'}\n")
    monkeypatch.setattr(scheduler, "FATAL", [])
    monkeypatch.setattr(scheduler, "STOP", threading.Event())
    scheduler.run_weekly(str(tmp_path / "sources.yaml"))
    assert scheduler.STOP.is_set() and scheduler.FATAL and scheduler.FATAL[0].exit_code == 2
    last = last_run(engine)
    assert last is not None and last.status == "failed" and "0 25 * * mon" in (last.error or "")


def test_schedulers_starting_at_once_both_find_their_job_table(db_url: str) -> None:
    """Two `digest schedule` started together both found APScheduler's table missing and both
    made it: the second failed on "table apscheduler_jobs already exists" (seen in CI)."""
    import threading

    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from sqlalchemy import create_engine, inspect

    from digest.schedule.scheduler import _create_job_table

    engines = [create_engine(db_url) for _ in range(8)]
    barrier, errors = threading.Barrier(len(engines)), []

    def start(engine: Engine) -> None:
        store = SQLAlchemyJobStore(engine=engine, tablename="apscheduler_jobs")
        barrier.wait()
        try:
            _create_job_table(engine, store)
        except Exception as exc:  # the race's loser
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(e,)) for e in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and inspect(engines[0]).has_table("apscheduler_jobs")
    for engine in engines:
        engine.dispose()
