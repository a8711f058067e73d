"""What a scheduler writes about itself, for ``digest schedule --show``: the last run (each
attempt, failed ones included, is written before any retry) and a heartbeat that says a
scheduler is running now. Both are rows of the ``setting`` table."""

from __future__ import annotations

import json
import os
import socket
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from digest.db import session_scope
from digest.models import Setting
from digest.timeutil import utcnow

LAST_RUN = "schedule:last_run"
HEARTBEAT = "schedule:heartbeat"
BEAT_EVERY = 20.0  # seconds between heartbeats
BEAT_TTL = 3 * BEAT_EVERY  # a heartbeat older than this: no scheduler is running


@dataclass(frozen=True)
class LastRun:
    at: str  # ISO 8601, UTC: when the attempt ended
    week: str | None
    status: str  # sent | incomplete | stopped | skipped | failed
    error: str | None = None
    attempt: int = 1
    retry_at: str | None = None  # a failed attempt: when the next one is due (None: the next run)

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def record_run(engine: Engine, run: LastRun) -> None:
    _put(engine, LAST_RUN, json.dumps(run.to_json()))


def last_run(engine: Engine) -> LastRun | None:
    value = _get(engine, LAST_RUN)
    if value is None:
        return None
    try:
        return LastRun(**json.loads(value))
    except (ValueError, TypeError):  # written by another version: say what can be said
        return LastRun(at="", week=None, status="unknown", error="the stored last run could not be read")


def beat(engine: Engine, holder: str, now: datetime | None = None) -> None:
    """This scheduler is alive until BEAT_TTL from now."""
    until = (now or utcnow()) + timedelta(seconds=BEAT_TTL)
    _put(engine, HEARTBEAT, f"{holder}|{until.isoformat()}")


def stop_beating(engine: Engine, holder: str) -> None:
    with session_scope(engine) as session:
        current = session.get(Setting, HEARTBEAT)
        if current is not None and current.value.partition("|")[0] == holder:
            session.delete(current)


def running_scheduler(engine: Engine, now: datetime | None = None) -> str | None:
    """The scheduler (host:id) whose heartbeat is fresh, or None when none is running."""
    value = _get(engine, HEARTBEAT)
    if not value:
        return None
    holder, _, until = value.partition("|")
    try:
        fresh = datetime.fromisoformat(until) > (now or utcnow())
    except ValueError:
        return None
    return holder if fresh else None


def holder_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _get(engine: Engine, key: str) -> str | None:
    with session_scope(engine) as session:
        row = session.get(Setting, key)
        return row.value if row is not None else None


def _put(engine: Engine, key: str, value: str) -> None:
    for _ in range(2):  # two schedulers may insert the row at once: the second updates it
        try:
            with session_scope(engine) as session:
                row = session.get(Setting, key)
                if row is None:
                    session.add(Setting(key=key, value=value))
                else:
                    row.value = value
            return
        except IntegrityError:
            continue
