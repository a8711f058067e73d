"""Shared fixtures: a real database (SQLite file, or a throwaway PostgreSQL database when
DIGEST_TEST_DATABASE=postgresql), sample configuration, and paths to the shared corpus."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlmodel import SQLModel

from digest.config import Config, Settings, load_config
from digest.db import open_database

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("DIGEST_SHARED", ROOT.parent / "shared"))
CORPUS = SHARED / "corpus"
KEY = "test-secret-key-for-digest-tests-only"  # 32 bytes or more: the first key signs
PG_ADMIN_URL = os.environ.get("DIGEST_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
BACKEND = os.environ.get("DIGEST_TEST_DATABASE", "sqlite")


def pytest_report_header() -> str:
    return f"digest database backend: {BACKEND}"


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str | None]:
    """One throwaway PostgreSQL database for the whole run, dropped at the end."""
    if BACKEND != "postgresql":
        yield None
        return
    name = f"digest_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    open_database(url).dispose()
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


@pytest.fixture
def db_url(tmp_path: Path, pg_database: str | None) -> Iterator[str]:
    """A database URL with an empty, migrated schema."""
    if pg_database is None:
        yield f"sqlite:///{tmp_path / 'digest.db'}"
        return
    engine = create_engine(pg_database)
    tables = ", ".join(f'"{t.name}"' for t in SQLModel.metadata.sorted_tables)
    with engine.begin() as conn:
        # A connection an earlier test left behind (a child process it killed, a proxy it cut)
        # may still hold row locks: each test starts with the database to itself, and if a lock
        # is still held, the TRUNCATE fails within half a minute instead of waiting for ever.
        conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                          " WHERE datname = current_database() AND pid <> pg_backend_pid()"))  # fmt: skip
        conn.execute(text("SET LOCAL lock_timeout = '30s'"))
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()
    yield pg_database


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = open_database(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def env(db_url: str, tmp_path: Path) -> dict[str, str]:
    """Environment for running digest against the test database."""
    return {
        "DIGEST_DATABASE_URL": db_url,
        "DIGEST_SOURCES": str(tmp_path / "sources.yaml"),
        "DIGEST_SMTP_URL": f"maildir:{tmp_path / 'outbox'}",
        "DIGEST_BASE_URL": "http://digest.test",
        "DIGEST_SECRET_KEY": KEY,
    }


def write_config(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "sources.yaml"
    path.write_text(body, encoding="utf-8")
    return path


def config_for(tmp_path: Path, body: str, env: dict[str, str] | None = None) -> Config:
    path = write_config(tmp_path, body)
    return load_config(env or {}, path)


@pytest.fixture
def sample_config(tmp_path: Path) -> Config:
    """The shipped sources.yaml, with its samples, in a temporary folder."""
    import shutil

    shutil.copytree(ROOT / "samples", tmp_path / "samples")
    shutil.copy(ROOT / "sources.yaml", tmp_path / "sources.yaml")
    return load_config({}, tmp_path / "sources.yaml")


def needs_corpus() -> pytest.MarkDecorator:
    return pytest.mark.skipif(not CORPUS.is_dir(), reason=f"shared corpus not found at {CORPUS}")


__all__ = ["CORPUS", "KEY", "ROOT", "Settings", "config_for", "needs_corpus", "write_config"]
