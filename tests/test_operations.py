"""Commands that do what they say (issue 13): read-only commands create nothing, a dry run
records nothing, a failing command leaves nothing behind, what a command needs is checked
at its start."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Engine, create_engine, func, inspect, select, text, update
from sqlmodel import Session, SQLModel

from digest.config import Config, load_config
from digest.db import _alembic_config, create_db_engine, open_database
from digest.models import Segment
from digest.timeutil import utcnow
from digest.weeks import following, week_of
from tests.conftest import BACKEND, PG_ADMIN_URL, ROOT
from tests.helpers import add_reader


def run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "digest", *args], env={**env, "PATH": "/usr/bin:/bin"}, cwd=cwd,
                          capture_output=True, text=True, timeout=120)  # fmt: skip


@pytest.fixture
def empty_db_url(tmp_path: Path) -> Iterator[str]:
    """A database with nothing in it: no SQLite file yet, or a new PostgreSQL database."""
    if BACKEND != "postgresql":
        yield f"sqlite:///{tmp_path / 'digest.db'}"
        return
    name = f"digest_empty_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


def _tables(url: str, tmp_path: Path) -> list[str] | None:
    """The tables in the database; None when its SQLite file does not exist."""
    if url.startswith("sqlite") and not (tmp_path / "digest.db").exists():
        return None
    engine = create_engine(url)
    try:
        return sorted(inspect(engine).get_table_names())
    finally:
        engine.dispose()


@pytest.fixture
def folder(tmp_path: Path, env: dict[str, str], empty_db_url: str) -> tuple[Path, dict[str, str]]:
    shutil.copytree(ROOT / "samples", tmp_path / "samples")
    shutil.copy(ROOT / "sources.yaml", tmp_path / "sources.yaml")
    return tmp_path, {**env, "DIGEST_DATABASE_URL": empty_db_url}


READ_ONLY = [["stats"], ["stats", "--json"], ["schedule", "--show", "--json"], ["subscribers", "list"],
             ["subscribers", "list", "--json"], ["subscribers", "export"], ["send", "--dry-run"]]  # fmt: skip


def test_read_only_commands_create_nothing_in_an_empty_database(folder: tuple[Path, dict[str, str]]) -> None:
    """`digest stats` on an empty PostgreSQL database created 13 tables; on SQLite a digest.db."""
    path, env = folder
    for args in READ_ONLY:
        result = run(args, env, path)
        assert result.returncode == 0, (args, result.stderr)
        assert "Traceback" not in result.stderr and "Error" not in result.stderr, result.stderr
        assert _tables(env["DIGEST_DATABASE_URL"], path) in (None, []), f"{args} created tables"
    assert json.loads(run(["stats", "--json"], env, path).stdout) == {"issues": []}
    assert "No issues yet" in run(["stats"], env, path).stderr
    assert json.loads(run(["subscribers", "list", "--json"], env, path).stdout) == {"subscribers": []}
    shown = json.loads(run(["schedule", "--show", "--json"], env, path).stdout)
    assert shown["last_run"] is None and shown["running"] is False and len(shown["next_runs"]) == 5
    assert "Nothing is stored yet" in run(["send", "--dry-run"], env, path).stderr
    assert not (path / "outbox").exists()


def test_a_read_only_command_on_an_older_schema_asks_for_init(folder: tuple[Path, dict[str, str]]) -> None:
    path, env = folder
    engine = create_db_engine(env["DIGEST_DATABASE_URL"])
    command.upgrade(_alembic_config(engine), "0004")
    engine.dispose()
    for args in (["stats"], ["subscribers", "list"]):
        result = run(args, env, path)
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 3 and len(lines) == 1, result.stderr
        assert "older schema (0004): run `digest init`" in lines[0]
    engine = create_db_engine(env["DIGEST_DATABASE_URL"])
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0004", "not migrated"
    engine.dispose()


def _row_counts(url: str) -> dict[str, int]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            counts = {t.name: conn.execute(select(func.count()).select_from(t)).scalar_one()
                      for t in SQLModel.metadata.sorted_tables}  # fmt: skip
            counts["settings"] = hash(tuple(conn.execute(text("SELECT key, value FROM setting ORDER BY key"))))
        return counts
    finally:
        engine.dispose()


def test_a_dry_run_records_nothing(folder: tuple[Path, dict[str, str]]) -> None:
    """It imported the seed readers, ingested and froze the week's issue."""
    path, env = folder
    assert run(["init"], env, path).returncode == 0
    before = _row_counts(env["DIGEST_DATABASE_URL"])
    dry = run(["send", "--dry-run", "--json"], env, path)
    assert dry.returncode == 0, dry.stderr
    report = json.loads(dry.stdout)
    assert report["status"] == "dry-run" and report["sent"] == 0
    assert "not built yet; a send would import the sample readers" in report["note"]
    assert "ingest every source" in report["note"] and "build issue" in report["note"]
    assert _row_counts(env["DIGEST_DATABASE_URL"]) == before, "a dry run changed the database"
    assert not list(path.glob("outbox/new/*"))


def test_a_dry_run_of_a_built_issue_renders_and_stores_no_new_segment(folder: tuple[Path, dict[str, str]]) -> None:
    """A reader whose preferences no segment has gets ranked for the dry run, not stored."""
    path, env = folder
    url = env["DIGEST_DATABASE_URL"]
    assert run(["ingest"], env, path).returncode == 0
    assert run(["subscribers", "add", "ada@example.com"], env, path).returncode == 0
    assert run(["build"], env, path).returncode == 0
    engine: Engine = open_database(url)
    add_reader(engine, "grace@example.com", "Grace", roles=["designer"], locations=["Lisbon"])
    with Session(engine) as session:
        segments = session.exec(select(func.count()).select_from(Segment)).one()
    engine.dispose()
    before = _row_counts(url)
    dry = run(["send", "--dry-run", "--json"], env, path)
    assert dry.returncode == 0, dry.stderr
    assert json.loads(dry.stdout)["remaining"] == 2 and "would send 2 message(s)" in dry.stderr
    assert _row_counts(url) == before and before["segment"] == segments[0]
    assert not list(path.glob("outbox/new/*"))


def test_a_failing_command_leaves_no_database_behind(tmp_path: Path, env: dict[str, str]) -> None:
    shutil.copytree(ROOT / "samples", tmp_path / "samples")
    text_ = (ROOT / "sources.yaml").read_text().replace('schedule: "0 9 * * mon"', 'schedule: "0 25 * * mon"')
    (tmp_path / "sources.yaml").write_text(text_)
    env = {**env, "DIGEST_DATABASE_URL": f"sqlite:///{tmp_path / 'digest.db'}"}
    for args in (["send"], ["build"], ["preview"], ["serve"]):
        result = run(args, env, tmp_path)
        assert result.returncode == 2 and result.stderr.startswith("Error: sources.yaml: newsletter.schedule"), args
        assert not (tmp_path / "digest.db").exists(), f"{args} left a digest.db"


@pytest.mark.parametrize(
    ("url", "says"),
    [("smtp://", "expected smtp://host:port"), ("smtp://relay.test:99999", "Port out of range"),
     ("smtp://relay.test?starttls=maybe", "starttls='maybe'"), ("smtp://relay.test?tls=1", "unknown option 'tls'"),
     ("maildir:", "maildir: needs a folder"), ("relay.test:25", "expected smtp://host:port")],
)  # fmt: skip
def test_the_commands_that_mail_check_the_smtp_url_first(
    folder: tuple[Path, dict[str, str]], url: str, says: str
) -> None:
    """A bad DIGEST_SMTP_URL used to surface only when sending began, after the ingest and build."""
    path, env = folder
    for args in (["send"], ["schedule", "--show"]):
        result = run(args, {**env, "DIGEST_SMTP_URL": url}, path)
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 2 and len(lines) == 1 and lines[0].startswith("Error: DIGEST_SMTP_URL: "), lines
        assert says in lines[0]
    assert _tables(env["DIGEST_DATABASE_URL"], path) in (None, []), "nothing was ingested or built"


def test_build_takes_this_week_or_the_next_and_rebuilds_only_an_unsent_issue(
    folder: tuple[Path, dict[str, str]],
) -> None:
    """`build --week` of any week froze it from today's items, and nothing could undo it."""
    path, env = folder
    tz = load_config(env, path / "sources.yaml").newsletter.tz
    this = week_of(utcnow(), tz)
    ahead, far = following(this), following(following(this))
    past = week_of(utcnow() - timedelta(days=7), tz)
    assert run(["ingest"], env, path).returncode == 0
    assert run(["subscribers", "add", "ada@example.com"], env, path).returncode == 0
    for week, says in ((past, "has passed"), (far, "is more than a week ahead")):
        refused = run(["build", "--week", week], env, path)
        lines = refused.stderr.strip().splitlines()
        assert refused.returncode == 1 and len(lines) == 1, refused.stderr
        assert (
            lines[0].startswith(f"Error: --week {week} {says}") and f"({this})" in lines[0] and f"({ahead})" in lines[0]
        )
    built = run(["build", "--week", ahead, "--json"], env, path)
    assert built.returncode == 0 and json.loads(built.stdout)["jobs"] == 16, built.stderr
    rebuilt = run(["build", "--week", ahead, "--rebuild", "--json"], env, path)
    assert rebuilt.returncode == 0 and f"Issue {ahead} rebuilt" in rebuilt.stderr, rebuilt.stderr
    assert json.loads(rebuilt.stdout)["jobs"] == 16, "the old issue's items were freed for the new one"
    this_week = json.loads(run(["build", "--json"], env, path).stdout)
    assert this_week["week"] == this and this_week["jobs"] == 0, "next week's issue holds them"
    sent = run(["send", "--week", ahead], env, path)
    assert sent.returncode == 0 and "1 sent" in sent.stderr, sent.stderr
    refused = run(["build", "--week", ahead, "--rebuild"], env, path)
    lines = refused.stderr.strip().splitlines()
    assert refused.returncode == 1 and lines == [
        f"Error: issue {ahead} cannot be rebuilt: 1 of its messages went out or were tried, and its readers keep "
        "what they got"
    ]
    assert json.loads(run(["stats", "--json"], env, path).stdout)["issues"][-1]["sent"] == 1, "nothing was lost"
    unsent = run(["build", "--rebuild"], env, path)
    assert unsent.returncode == 0 and f"Issue {this} skipped" in unsent.stderr, "this week's went to nobody"


def test_twenty_workers_get_a_connection_each(folder: tuple[Path, dict[str, str]]) -> None:
    """`--workers` allows 64, but the pool held 15 connections: `--workers 20` stopped with
    "QueuePool limit of size 5 overflow 10 reached" (exit 7)."""
    path, env = folder
    (path / "many.csv").write_text("email\n" + "".join(f"r{i}@example.com\n" for i in range(60)))
    assert run(["subscribers", "import", "many.csv"], env, path).returncode == 0
    sent = run(["send", "--workers", "20", "--json"], env, path)
    assert sent.returncode == 0, sent.stderr
    assert json.loads(sent.stdout)["sent"] == 60 and len(list((path / "outbox" / "new").iterdir())) == 60


def test_an_issue_whose_rows_were_requeued_after_a_try_cannot_be_rebuilt(engine: Engine, sample_config: Config) -> None:
    """`--resend-unknown` puts unknown rows back to queued: they were tried, maybe delivered."""
    from digest.build.issue import build_issue, existing_issue
    from digest.deliver import ledger
    from digest.errors import InputError
    from digest.models import Delivery
    from digest.week import rebuild_issue
    from tests.helpers import ingest_samples

    ingest_samples(engine, sample_config)
    add_reader(engine, "ada@example.com", "Ada")
    week = build_issue(engine, sample_config).week
    issue = existing_issue(engine, week)
    assert issue is not None and issue.id is not None
    ledger.enqueue(engine, issue.id)
    with Session(engine) as session:
        session.execute(update(Delivery).values(status="unknown", attempts=1))
        session.commit()
    assert ledger.resend_unknown(engine, issue.id) == 1
    with pytest.raises(InputError, match="cannot be rebuilt: 1 of its messages went out or were tried"):
        rebuild_issue(engine, sample_config, week)
    with Session(engine) as session:
        assert len(session.exec(select(Delivery)).all()) == 1, "the ledger row is kept"


def test_a_dry_run_with_to_and_a_send_of_a_passed_week_are_refused_first(folder: tuple[Path, dict[str, str]]) -> None:
    path, env = folder
    both = run(["send", "--dry-run", "--to", "me@example.com"], env, path)
    assert both.returncode == 2 and "--dry-run sends nothing" in both.stderr and not (path / "outbox").exists()
    past = week_of(utcnow() - timedelta(days=14), load_config(env, path / "sources.yaml").newsletter.tz)
    for args in (["send", "--week", past], ["send", "--dry-run", "--week", past]):
        result = run(args, env, path)
        assert result.returncode == 1 and f"Error: --week {past} has passed" in result.stderr, result.stderr
    assert _tables(env["DIGEST_DATABASE_URL"], path) in (None, []) or _row_counts(env["DIGEST_DATABASE_URL"])[
        "subscriber"] == 0, "the seed readers were not imported"  # fmt: skip


@pytest.mark.parametrize(("text", "says"), [("localhost", "expected an IP address"), ("127.0.0.1:abc", "expected"),
                                            ("127.0.0.1:99999", "out of range"), ("[::1", "expected")])  # fmt: skip
def test_a_bad_nameserver_is_one_error_line(folder: tuple[Path, dict[str, str]], text: str, says: str) -> None:
    from digest.check.records import parse_nameserver

    assert parse_nameserver("[::1]:5353") == ("::1", 5353) and parse_nameserver("127.0.0.1") == ("127.0.0.1", 53)
    path, env = folder
    result = run(["check", "--only", "spf", "--nameserver", text], env, path)
    lines = result.stderr.strip().splitlines()
    assert (
        result.returncode == 1 and len(lines) == 1 and lines[0].startswith("Error: --nameserver") and says in lines[0]
    )
