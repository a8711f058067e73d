"""A named lease in the database: one holder at a time, across processes and machines."""

from __future__ import annotations

import secrets
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from sqlalchemy import Engine, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from digest.db import session_scope
from digest.models import Setting
from digest.timeutil import utcnow


def _value(holder: str, until: datetime) -> str:
    return f"{holder}|{until.isoformat()}"


@contextmanager
def hold_lease(engine: Engine, name: str, ttl: float) -> Iterator[bool]:
    """Yields True when this process holds the lease ``name`` (then releases it), False when
    someone else holds a lease that has not expired."""
    from datetime import timedelta

    key, holder = f"lease:{name}", f"{socket.gethostname()}:{secrets.token_hex(4)}"
    now = utcnow()
    mine = _value(holder, now + timedelta(seconds=ttl))
    held = _take(engine, key, mine, now)
    try:
        yield held
    finally:
        if held:
            with session_scope(engine) as session:
                session.execute(update(Setting).where(col(Setting.key) == key, col(Setting.value) == mine)
                                .values(value=_value("", now)))  # fmt: skip


def _take(engine: Engine, key: str, mine: str, now: datetime) -> bool:
    try:
        with session_scope(engine) as session:
            current = session.get(Setting, key)
            if current is None:
                session.add(Setting(key=key, value=mine))
                return True
            holder, _, until = current.value.partition("|")
            if holder and datetime.fromisoformat(until) > now:
                return False
            changed = session.execute(
                update(Setting).where(col(Setting.key) == key, col(Setting.value) == current.value).values(value=mine)
            ).rowcount  # type: ignore[attr-defined]
            return bool(changed)
    except IntegrityError:
        return False
