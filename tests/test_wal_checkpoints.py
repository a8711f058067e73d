"""SQLite's write-ahead log during a long send: checkpointed from the watching process, never
holding the senders up for long (digest.db.WalCheckpoints)."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from digest.db import CHECKPOINT_WAIT_MS, WalCheckpoints, create_db_engine


def _log_with_frames(path: Path) -> sqlite3.Connection:
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("PRAGMA wal_autocheckpoint=0")  # only our checkpoints
    writer.execute("CREATE TABLE t (x)")
    writer.executemany("INSERT INTO t VALUES (?)", [("x" * 500,) for _ in range(2000)])
    return writer


def _frames_left(conn: sqlite3.Connection) -> int:
    """Frames of the log not yet copied into the database file (a PASSIVE checkpoint's count)."""
    _, log, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    return int(log - copied)


def test_a_due_checkpoint_starts_the_log_over(tmp_path: Path) -> None:
    path = tmp_path / "digest.db"
    writer = _log_with_frames(path)
    checkpoints = WalCheckpoints(create_db_engine(f"sqlite:///{path}"), every=0.2)
    checkpoints.tick()
    assert (checkpoints.done, checkpoints.busy) == (0, 0), "not due yet"
    time.sleep(0.25)
    checkpoints.tick()
    assert (checkpoints.done, checkpoints.busy) == (1, 0)
    writer.execute("INSERT INTO t VALUES ('after')")
    _, log, _ = writer.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    assert log <= 3, "the next write went to the start of the log, not after its 2,000 rows"


def test_a_reader_in_the_way_costs_the_senders_a_moment_not_the_send(tmp_path: Path) -> None:
    """A RESTART checkpoint waits for readers, and writers wait for it: with a reader that
    stays, it gives up after CHECKPOINT_WAIT_MS and tries again at the next tick."""
    path = tmp_path / "digest.db"
    writer = _log_with_frames(path)
    reader = sqlite3.connect(path, isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM t").fetchone()  # holds a snapshot that includes the log
    checkpoints = WalCheckpoints(create_db_engine(f"sqlite:///{path}"), every=0)
    started = time.monotonic()
    checkpoints.tick()
    waited = time.monotonic() - started
    assert (checkpoints.done, checkpoints.busy) == (0, 1)
    assert waited < CHECKPOINT_WAIT_MS / 1000 + 0.5
    writer.execute("INSERT INTO t VALUES ('meanwhile')")  # writers go on
    reader.execute("COMMIT")
    checkpoints.tick()
    assert checkpoints.done == 1
    assert _frames_left(writer) == 0


def test_nothing_to_do_on_postgresql_or_in_memory() -> None:
    for url in ("postgresql+psycopg://postgres@127.0.0.1:5432/postgres", "sqlite://"):
        checkpoints = WalCheckpoints(create_db_engine(url), every=0)
        checkpoints.tick()
        assert (checkpoints.done, checkpoints.busy) == (0, 0)
