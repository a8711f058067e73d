"""Small builders shared by tests: readers in the database, an ingested sample set."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from datetime import datetime

import pytest
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


def require_program(program: str, how: str) -> str:
    """The program's path. Missing: the test is skipped on a developer's machine, and fails
    under .ci/run (DIGEST_REQUIRE_TOOLS=1), which installs every program the tests use."""
    found = shutil.which(program) or next(
        (p for p in (f"/usr/bin/{program}", f"/usr/sbin/{program}") if os.path.exists(p)), None
    )
    if found:
        return found
    if os.environ.get("CI") or os.environ.get("DIGEST_REQUIRE_TOOLS"):
        pytest.fail(f"{program} is not installed; {how}")
    pytest.skip(f"{program} is not installed ({how})")
