"""Small builders shared by tests: readers in the database, an ingested sample set."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Engine

from digest.config import Config
from digest.db import session_scope
from digest.ingest import ingest
from digest.models import Subscriber
from digest.timeutil import utcnow


def add_reader(
    engine: Engine,
    email: str,
    name: str = "",
    roles: Iterable[str] = (),
    locations: Iterable[str] = (),
    remote: bool | None = None,
    seniority: str = "",
    audience: str = "both",
    status: str = "active",
    public_id: str | None = None,
) -> Subscriber:
    now = utcnow()
    reader = Subscriber(
        email=email, name=name, roles=list(roles), locations=list(locations), remote=remote,
        seniority=seniority, audience=audience, status=status, created_at=now, updated_at=now,
    )  # fmt: skip
    if public_id is not None:
        reader.public_id = public_id
    with session_scope(engine) as session:
        session.add(reader)
    return reader


def ingest_samples(engine: Engine, config: Config, now: datetime | None = None) -> None:
    report = ingest(engine, config, now=now)
    assert report.errors == 0, report
