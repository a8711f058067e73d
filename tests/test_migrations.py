"""The Alembic migrations and the SQLModel tables describe the same schema."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine
from sqlmodel import SQLModel

from digest.db import current_revision, head_revision, migrate


def test_migrations_match_the_models(engine: Engine) -> None:
    with engine.connect() as conn:
        ours = set(SQLModel.metadata.tables)

        def include(obj: object, name: str | None, kind: str, reflected: bool, compare_to: object) -> bool:
            return kind != "table" or name in ours  # APScheduler keeps its own table in the same database

        context = MigrationContext.configure(conn, opts={"compare_type": True, "include_object": include})
        assert compare_metadata(context, SQLModel.metadata) == []


def test_migrate_is_idempotent(engine: Engine) -> None:
    assert current_revision(engine) == head_revision()
    assert migrate(engine) == (head_revision(), head_revision())
