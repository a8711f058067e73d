"""Database: the engine (SQLite by default, PostgreSQL by URL) and its migrations."""

from __future__ import annotations

import functools
import logging
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import alembic.config
from alembic import command
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, NoSuchModuleError, OperationalError, SQLAlchemyError
from sqlmodel import Session

from digest.errors import DatabaseError

MIGRATIONS = Path(__file__).parent / "migrations"
# psycopg logs what it ignores while closing a connection already lost ("error ignored
# terminating <psycopg.Pipeline [BAD]>"); without a handler, Python would print each on
# stderr above the one Error: line. A program that sets up logging still sees them.
logging.getLogger("psycopg").addHandler(logging.NullHandler())
SQLITE_BUSY_MS = 30_000
IDLE_IN_TRANSACTION_MS = SILENT_CONNECTION_MS = 60_000  # PostgreSQL: end_idle_transactions, _postgresql_options
KEEPALIVE_IDLE, KEEPALIVE_INTERVAL, KEEPALIVE_COUNT = 20, 10, 4  # s, s, probes: a silent peer found in a minute
REASON_CHARS = 300  # of a driver's message in an error line
CHECKPOINT_EVERY, CHECKPOINT_WAIT_MS = 2.0, 50  # SQLite's log during a send: see WalCheckpoints
POOL_SIZE, POOL_OVERFLOW = 5, 75  # a send keeps one connection per worker (up to 64) and a few of its own


def create_db_engine(url: str, wait: float | None = None) -> Engine:
    """An engine for ``url``; SQLite gets WAL, durable commits, a busy timeout and foreign keys.

    ``wait``: the most a statement may wait for a lock or the server (``digest serve`` keeps
    within its answer time); by default a lock is waited on for 30 s and a connection for 10 s."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise DatabaseError(f"DIGEST_DATABASE_URL: not a database URL: {url!r}") from None
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    kwargs: dict[str, Any] = {}
    in_memory = parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", ":memory:")
    if not in_memory:  # (an in-memory SQLite has one connection, no pool)
        kwargs |= {"pool_size": POOL_SIZE, "max_overflow": POOL_OVERFLOW}
    busy_ms = SQLITE_BUSY_MS if wait is None else int(wait * 1000)
    if parsed.get_backend_name() == "sqlite":
        kwargs["connect_args"] = {"timeout": busy_ms / 1000}
    else:
        kwargs["pool_pre_ping"] = True
        kwargs["connect_args"] = _postgresql_options(parsed.query, wait, busy_ms)
    try:
        engine = create_engine(parsed, **kwargs)
    except (NoSuchModuleError, ImportError, ArgumentError) as exc:
        raise DatabaseError(f"DIGEST_DATABASE_URL: unsupported database {parsed.drivername!r}: {exc}") from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", functools.partial(_sqlite_pragmas, busy_ms))
    return engine


def _postgresql_options(query: Any, wait: float | None, busy_ms: int) -> dict[str, Any]:
    """How a connection to PostgreSQL notices a network gone silent (a host cut off): the
    kernel gives up on data left unacknowledged for a minute, and keepalives find a silent
    peer while a reply is awaited, so a cut-off sender stops with an error instead of
    waiting for ever. (Behind a proxy or pooler that still acknowledges, only the proxy can
    tell.) The URL's own settings of these win. ``wait``: statements and locks are waited on
    no longer either (a startup ``options`` parameter, which PgBouncer refuses, is sent only
    then, as before)."""
    given = {key: query[key] for key in _LIBPQ_TIMEOUTS if key in query}
    settings: dict[str, Any] = {
        "connect_timeout": 10 if wait is None else max(1, round(wait)),
        "tcp_user_timeout": SILENT_CONNECTION_MS if wait is None else busy_ms,
        "keepalives": 1, "keepalives_idle": KEEPALIVE_IDLE, "keepalives_interval": KEEPALIVE_INTERVAL,
        "keepalives_count": KEEPALIVE_COUNT,
    }  # fmt: skip
    if wait is not None:  # the server gives up on a statement, and the kernel on a silent connection sooner
        settings["options"] = f"-c statement_timeout={busy_ms} -c lock_timeout={busy_ms}"
    return {**settings, **given}


_LIBPQ_TIMEOUTS = ("connect_timeout", "tcp_user_timeout", "keepalives", "keepalives_idle", "keepalives_interval",
                   "keepalives_count")  # fmt: skip


def end_idle_transactions(conn: Connection, local: bool = True) -> None:
    """PostgreSQL: the server ends this connection's transaction (``local``: the one open now;
    else every one until RESET_TRANSACTION_LIMITS) if its client goes silent, so the row
    locks of a sender cut off mid-transaction never hold up the others' take-over for long:
    after IDLE_IN_TRANSACTION_MS idle between statements, and within about a minute of the
    network going silent, found by the server's own keepalives, otherwise hours away (the
    kernel's default). That second way is what ends a transaction cut off in the middle of a
    statement or a pipeline: the server then waits for the rest, which is not "idle", and no
    timeout of PostgreSQL's own ever fires. One round trip. Only the ledger's own short
    transactions ask for it: a build ranks for minutes inside one."""
    if conn.dialect.name == "postgresql":
        scope = "true" if local else "false"
        calls = ", ".join(f"set_config('{name}', '{value}', {scope})" for name, value in _LEDGER_LIMITS.items())
        conn.exec_driver_sql(f"SELECT {calls}")


# The server's side of a ledger connection (end_idle_transactions); set per session or
# transaction, as any user may. Over a Unix socket, the TCP ones do nothing.
_LEDGER_LIMITS = {
    "idle_in_transaction_session_timeout": IDLE_IN_TRANSACTION_MS,
    "tcp_keepalives_idle": KEEPALIVE_IDLE,
    "tcp_keepalives_interval": KEEPALIVE_INTERVAL,
    "tcp_keepalives_count": KEEPALIVE_COUNT,
    "tcp_user_timeout": SILENT_CONNECTION_MS,  # data it sent, unacknowledged for this long: the client is gone
}
RESET_TRANSACTION_LIMITS = "SELECT set_config(name, reset_val, false) FROM pg_settings WHERE name IN ({})".format(
    ", ".join(f"'{name}'" for name in _LEDGER_LIMITS)
)  # end_idle_transactions(local=False) undone, in one round trip


def _sqlite_pragmas(busy_ms: int, dbapi_connection: Any, _record: Any) -> None:
    """WAL with ``synchronous=FULL``: each commit is on disk before it returns (NORMAL, which
    WAL allows, may lose the last commits in a power cut: the ledger's marks among them)."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.close()


class WalCheckpoints:
    """SQLite: the write-ahead log kept from growing during a long send. Senders that read and
    write without pause always leave some reader on the log, so SQLite's own checkpoints
    (PASSIVE) can never start it over, and it grows (200 MB at 1,000,000 readers) while every
    lookup in it gets slower. ``tick`` (called often, by the process that watches the
    senders) runs a RESTART checkpoint every ``every`` seconds, which waits at most
    CHECKPOINT_WAIT_MS for the others: busy, it leaves it to the next tick. Nothing on
    PostgreSQL."""

    def __init__(self, engine: Engine, every: float = CHECKPOINT_EVERY) -> None:
        database = engine.url.database if engine.dialect.name == "sqlite" else None
        self.path = database if database and database != ":memory:" else None
        self.every, self._next = every, time.monotonic() + every
        self.done = self.busy = 0

    def tick(self) -> None:
        if self.path is None or time.monotonic() < self._next:
            return
        self._next = time.monotonic() + self.every
        try:  # its own connection: a short busy timeout never stays on a pooled one
            conn = sqlite3.connect(self.path, timeout=CHECKPOINT_WAIT_MS / 1000, isolation_level=None)
            try:
                busy, _, _ = conn.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
            finally:
                conn.close()
        except sqlite3.Error:
            busy = 1
        self.busy += bool(busy)
        self.done += not busy


def describe(engine: Engine) -> str:
    """The URL without its password, for messages and logs."""
    return engine.url.render_as_string(hide_password=True)


def describe_url(url: str) -> str:
    """A database URL without its password (the URL as given when it does not parse)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "DIGEST_DATABASE_URL"


def _alembic_config(engine: Engine) -> alembic.config.Config:
    cfg = alembic.config.Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def head_revision() -> str:
    script = ScriptDirectory.from_config(_alembic_config(create_engine("sqlite://")))
    head = script.get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    with _connected(engine) as conn:
        return MigrationContext.configure(conn).get_current_revision()


def migrate(engine: Engine) -> tuple[str | None, str]:
    """Create or upgrade the schema to the newest revision; returns (before, after)."""
    before = current_revision(engine)
    head = head_revision()
    if before != head:
        try:
            command.upgrade(_alembic_config(engine), "head")
        except OperationalError as exc:
            raise DatabaseError(f"cannot migrate {describe(engine)}: {_reason(exc)}") from None
    return before, head


def open_database(url: str, *, migrate_schema: bool = True) -> Engine:
    """Connect, check the connection works, and bring the schema up to date."""
    engine = create_db_engine(url)
    if migrate_schema:
        migrate(engine)
    else:
        current_revision(engine)
    return engine


def open_existing(url: str) -> Engine | None:
    """For the commands that only read: an engine on a database at this version's schema,
    or None when there is none yet (no SQLite file, or an empty database). Nothing is
    created or migrated; an older schema asks for ``digest init``."""
    engine = create_db_engine(url)
    if engine.dialect.name == "sqlite":
        database = engine.url.database
        if not database or database == ":memory:" or not Path(database).is_file():
            engine.dispose()
            return None
    revision = current_revision(engine)
    head = head_revision()
    if revision is None:
        engine.dispose()
        return None
    if revision != head:
        engine.dispose()
        known = {s.revision for s in ScriptDirectory.from_config(_alembic_config(engine)).walk_revisions()}
        if revision in known:
            raise DatabaseError(f"{describe(engine)} has an older schema ({revision}): run `digest init` to migrate it")
        raise DatabaseError(f"{describe(engine)} has schema {revision}, newer than this version of digest knows")
    return engine


@contextmanager
def _connected(engine: Engine) -> Iterator[Any]:
    try:
        with engine.connect() as conn:
            yield conn
    except OperationalError as exc:
        raise DatabaseError(f"cannot connect to {describe(engine)}: {_reason(exc)}") from None


def database_failure(exc: BaseException) -> DatabaseError:
    """A write or read that failed in the middle of work (a full disk, a lost server) as one line."""
    return DatabaseError(f"the database failed: {_reason(exc)}")


def _reason(exc: BaseException) -> str:
    """The driver's message on one line (libpq's span several: "server closed the connection
    unexpectedly / This probably means ... / before or while processing the request.")."""
    text = str(getattr(exc, "orig", exc) or exc)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return " ".join(lines)[:REASON_CHARS] if lines else type(exc).__name__


@contextmanager
def database_errors() -> Iterator[None]:
    """The one place SQLAlchemy's errors (a full disk, a lost server, a lock not granted in
    time, a pool with no connection free) become ``DatabaseError``. A constraint violation
    stays ``IntegrityError``: the callers that resolve a race (two builders of one week,
    say) catch it."""
    try:
        yield
    except IntegrityError:
        raise
    except SQLAlchemyError as exc:
        raise database_failure(exc) from None


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session committed on success and rolled back on any error; database errors come
    out as ``DatabaseError``."""
    with database_errors(), Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


@contextmanager
def connection(engine: Engine) -> Iterator[Connection]:
    """A Core connection (for the hot paths that skip the ORM); errors as ``session_scope``'s."""
    with database_errors(), engine.connect() as conn:
        yield conn
