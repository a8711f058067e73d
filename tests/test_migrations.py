"""The Alembic migrations and the SQLModel tables describe the same schema."""

from __future__ import annotations

import re
from pathlib import Path

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


def test_upgrading_a_list_keeps_its_history_and_gives_each_reader_a_public_id(tmp_path: Path) -> None:
    """A database at 0004 with readers, a sent issue and an unsubscribe: after the upgrade to
    public ids every delivery and event is still there (on SQLite the subscriber table is
    rebuilt: with foreign keys on, that used to cascade them away and the next send mailed
    everyone again)."""
    from alembic import command

    from digest.db import _alembic_config, create_db_engine

    engine = create_db_engine(f"sqlite:///{tmp_path / 'old.db'}")
    command.upgrade(_alembic_config(engine), "0004")
    now = "2026-11-30 09:00:00.000000"
    with engine.begin() as conn:
        for n in range(1, 4):
            conn.exec_driver_sql(
                "INSERT INTO subscriber (id, email, name, status, roles, locations, seniority, audience, segment_key, "
                f"created_at, updated_at) VALUES ({n}, 'r{n}@example.com', '', 'active', '[]', '[]', '', 'both', '', "
                f"'{now}', '{now}')"
            )
        conn.exec_driver_sql(
            "INSERT INTO issue (id, week, status, note, built_at, window_start, window_end, jobs, people) "
            f"VALUES (1, '2026-W49', 'built', '', '{now}', '{now}', '{now}', 1, 0)"
        )
        for n in range(1, 4):
            conn.exec_driver_sql(
                "INSERT INTO delivery (issue_id, subscriber_id, status, attempts, reply, updated_at, segment_key) "
                f"VALUES (1, {n}, 'sent', 1, '250 ok', '{now}', '')"
            )
        conn.exec_driver_sql(
            "INSERT INTO event (subscriber_id, issue_id, kind, method, detail, created_at) "
            f"VALUES (2, 1, 'unsubscribed', 'one-click', '', '{now}')"
        )
    migrate(engine)
    with engine.connect() as conn:
        deliveries = conn.exec_driver_sql("SELECT count(*) FROM delivery").scalar()
        events = conn.exec_driver_sql("SELECT count(*) FROM event").scalar()
        ids = [row[0] for row in conn.exec_driver_sql("SELECT public_id FROM subscriber")]
        cutoff = conn.exec_driver_sql("SELECT value FROM setting WHERE key = 'legacy_links_before'").scalar()
        foreign_keys = conn.exec_driver_sql("PRAGMA foreign_keys").scalar()
    assert (deliveries, events) == (3, 1), "the send history survives the upgrade"
    assert len(set(ids)) == 3 and all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)
    assert cutoff is not None and foreign_keys == 1
    engine.dispose()


def test_stored_levels_come_to_the_one_list_and_their_segment_keys_follow(tmp_path: Path) -> None:
    """Levels stored before 0009 as typed ("Sr.", "lead", "godlike"): each becomes the level it
    names, or no level (it matched none), with the segment key its reader's preferences give."""
    from alembic import command

    from digest.db import _alembic_config, create_db_engine
    from digest.preferences import Preferences

    engine = create_db_engine(f"sqlite:///{tmp_path / 'old.db'}")
    command.upgrade(_alembic_config(engine), "0008")
    now = "2026-11-30 09:00:00.000000"
    typed = {1: "sr.", 2: "lead", 3: "godlike", 4: "staff", 5: ""}
    with engine.begin() as conn:
        for n, level in typed.items():
            conn.exec_driver_sql(
                "INSERT INTO subscriber (id, public_id, email, name, status, roles, locations, seniority, audience, "
                f"segment_key, created_at, updated_at) VALUES ({n}, '{n:032x}', 'r{n}@example.com', '', 'active', "
                f"'[\"tpm\"]', '[]', '{level}', 'both', 'old', '{now}', '{now}')"
            )
    migrate(engine)
    with engine.connect() as conn:
        rows = dict(conn.exec_driver_sql("SELECT id, seniority FROM subscriber ORDER BY id").all())
        keys = dict(conn.exec_driver_sql("SELECT id, segment_key FROM subscriber ORDER BY id").all())
    assert rows == {1: "senior", 2: "senior", 3: "", 4: "staff", 5: ""}
    assert keys[1] == Preferences.of(["tpm"], seniority="senior").key and keys[3] == Preferences.of(["tpm"]).key
    assert keys[4] == keys[5] == "old", "a level already on the list, or none, is left as it was"
    engine.dispose()
