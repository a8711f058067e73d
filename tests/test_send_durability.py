"""Durable and accountable sends: a power cut mid-send, a killed parent of sender processes,
a sender that dies while another runs, and exit codes that say a run stopped with rows left."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine
from sqlmodel import Session, select

from digest.build.issue import build_issue, find_issue
from digest.config import Config
from digest.db import open_database
from digest.deliver import ledger, workers
from digest.deliver.send import EXIT_STOPPED, SendOptions
from digest.models import Delivery
from digest.week import run_week
from tests import powercut
from tests.conftest import BACKEND
from tests.helpers import ingest_samples
from tests.smtpserver import Faults, smtp_server
from tests.test_send_crash import many_readers, sender, statuses

pytestmark = [pytest.mark.slow, pytest.mark.dates]


def wait_for(condition: object, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            pytest.fail("timed out")
        time.sleep(0.005)


def children_of(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(BACKEND != "sqlite", reason="SQLite's own durability (PostgreSQL commits are durable)")
def test_a_power_cut_mid_send_mails_nobody_twice(sample_config: Config, env: dict[str, str], tmp_path: Path) -> None:
    """SIGKILL while sending, then the disk as fsync left it: the next send mails nobody twice
    and leaves at most the window in flight unknown. (With synchronous=NORMAL the WAL is not
    synced at commit: hundreds of marks were lost and resent.)"""
    database = tmp_path / "cut.db"
    url = f"sqlite:///{database}"
    engine = open_database(url)
    ingest_samples(engine, sample_config)
    build_issue(engine, sample_config)
    addresses = many_readers(engine, 1500)
    ledger.enqueue(engine, find_issue(engine, None).id or 0)
    engine.dispose()  # the last connection closes: SQLite folds the WAL into the database
    powercut.baseline(database)
    shim = powercut.build_shim(tmp_path)
    env = {**env, "DIGEST_DATABASE_URL": url}
    cut_env = {**env, "LD_PRELOAD": str(shim), "DIGEST_POWERCUT_DIR": str(tmp_path)}
    with smtp_server(Faults(delay=0.001)) as sink:
        process = sender(cut_env, sample_config, sink.port)
        wait_for(lambda: len(sink.messages) >= 600 or process.poll() is not None)
        process.send_signal(signal.SIGKILL)
        process.wait()
        first = len(sink.messages)
        kept = powercut.cut(database)
        again = sender(env, sample_config, sink.port, "--json")
        _, errors = again.communicate(timeout=300)
        received = sink.received()
    assert again.returncode in (0, 5), errors
    state = statuses(open_database(url))
    duplicates = [a for a, n in received.items() if n > 1]
    unknown = [a for a, s in state.items() if s == "unknown"]
    print(f"\npower cut after {first} messages: the disk kept {kept}; then {len(received)} readers mailed, "
          f"{len(duplicates)} twice, {len(unknown)} unknown")  # fmt: skip
    assert 0 < first < 1500, "the cut struck mid-send"
    assert duplicates == [], f"{len(duplicates)} readers mailed twice"
    assert all(a in received or state[a] == "unknown" for a in addresses), "nobody skipped silently"
    assert len(unknown) <= 8, Counter(state.values())


def test_sender_processes_stop_when_their_parent_is_killed(
    engine: Engine, sample_config: Config, env: dict[str, str]
) -> None:
    ingest_samples(engine, sample_config)
    build_issue(engine, sample_config)
    many_readers(engine, 3000)
    with smtp_server(Faults(delay=0.005)) as sink:
        parent = sender(env, sample_config, sink.port, "--processes", "2", "--workers", "2")
        wait_for(lambda: len(sink.messages) >= 50)
        children = children_of(parent.pid)
        assert len(children) >= 2, children
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        killed_at = len(sink.messages)
        wait_for(lambda: not any(alive(c) for c in children), seconds=10)
        stopped_at = len(sink.messages)
        time.sleep(1)
        later = len(sink.messages)
    print(f"\nparent SIGKILLed after {killed_at} messages; its children stopped after {stopped_at - killed_at} more")
    assert later == stopped_at < 3000, "once the children are gone, nothing more goes out"
    with Session(engine) as session:
        left = Counter(d.status for d in session.exec(select(Delivery)))
    assert left["queued"] > 0 and left["sending"] <= 2 * 8, left


def test_a_sender_that_dies_is_taken_over_by_one_still_running(
    engine: Engine, sample_config: Config, env: dict[str, str]
) -> None:
    """Two senders share an issue; one is SIGKILLed. The other takes over its claims at once
    (not after the lease, 120 s here) and finishes the issue: nobody twice, nobody left."""
    ingest_samples(engine, sample_config)
    build_issue(engine, sample_config)
    addresses = many_readers(engine, 2000)
    with smtp_server(Faults(delay=0.003)) as sink:
        doomed = sender(env, sample_config, sink.port)
        wait_for(lambda: len(sink.messages) >= 100)
        survivor = sender(env, sample_config, sink.port, "--json")
        wait_for(lambda: len(sink.messages) >= 300)
        doomed.send_signal(signal.SIGKILL)
        doomed.wait()
        started = time.monotonic()
        _, errors = survivor.communicate(timeout=120)
        took = time.monotonic() - started
        received = sink.received()
    state = statuses(engine)
    unknown = [a for a, s in state.items() if s == "unknown"]
    print(f"\ntakeover: the survivor finished {took:.1f} s after the kill; {len(unknown)} unknown; "
          f"statuses {Counter(state.values())}")  # fmt: skip
    assert survivor.returncode in (0, 5), errors
    assert max(received.values()) == 1
    assert all(state[a] in ("sent", "unknown") for a in addresses), Counter(state.values())
    assert all(a in received or state[a] == "unknown" for a in addresses)
    assert len(unknown) <= 8 and took < 60


def test_a_slow_server_keeps_a_live_senders_rows_its_own(engine: Engine, sample_config: Config) -> None:
    """Messages slower than the lease: the sender's idle worker must not take its busy
    sibling's rows (same process, alive) and report them unknown."""
    from tests.test_send import readers, smtp_config

    ingest_samples(engine, sample_config)
    build_issue(engine, sample_config)
    addresses = readers(engine, 6)
    with smtp_server(Faults(delay=0.6)) as sink:
        config = smtp_config(sample_config, sink.port, lease_seconds=1, commit_every=4)
        report = run_week(engine, config, SendOptions(workers=2))
    assert (report.sent, report.unknown, report.exit_code) == (6, 0, 0)
    assert sink.received() == {a: 1 for a in addresses}


@contextmanager
def claim_not_committed(engine: Engine, rows: int) -> Iterator[Connection]:
    """Another sender's claim of the last ``rows`` rows, cut off before it commits: the rows
    stay queued and nobody's to every other reader, and locked (rolled back at the end)."""
    issue = find_issue(engine, None)
    ledger.enqueue(engine, issue.id or 0)
    held = engine.connect()
    held.exec_driver_sql("UPDATE delivery SET claimed_by = 'elsewhere:1:x' WHERE id IN "
                         f"(SELECT id FROM delivery ORDER BY id DESC LIMIT {rows})")  # fmt: skip
    try:
        yield held
    finally:
        held.rollback()
        held.close()


@pytest.mark.skipif(BACKEND != "postgresql", reason="row locks: SQLite's writer locks the whole database")
def test_rows_held_by_another_senders_claim_not_yet_committed_are_sent_in_the_same_run(
    engine: Engine, sample_config: Config
) -> None:
    """Another sender's claim takes some rows and is cut off before it commits (its server
    ends the transaction later, tests/test_multihost.py): the claims of this run skip those
    locked rows. The run must wait for them, not end with them unmailed (as it did, once, in
    the multi-host test: 40 readers left)."""
    from tests.test_send import readers, smtp_config

    ingest_samples(engine, sample_config)
    build_issue(engine, sample_config)
    addresses = readers(engine, 12)
    with smtp_server() as sink, claim_not_committed(engine, 4) as held:

        def cut_off_claim_ends() -> None:  # once the run has mailed all it could claim, and looked again
            try:
                wait_for(lambda: len(sink.messages) >= 8)
                time.sleep(2)
            finally:
                held.rollback()

        ending = threading.Thread(target=cut_off_claim_ends)
        ending.start()
        try:
            report = run_week(engine, smtp_config(sample_config, sink.port), SendOptions(workers=1))
        finally:
            ending.join()
        received = sink.received()
    assert (report.sent, report.exit_code) == (12, 0)
    assert received == {a: 1 for a in addresses}


@pytest.mark.skipif(BACKEND != "postgresql", reason="row locks: SQLite's writer locks the whole database")
def test_a_claim_that_is_never_committed_is_waited_for_only_so_long_and_said(
    engine: Engine, sample_config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sender stopped mid-claim (SIGSTOP, a debugger) or behind a pooler holds its locks for
    as long as it likes: the run waits for them no longer than LOCKED_WAIT (2 s here), then
    ends stopped with them left (exit 6), and says why."""
    from tests.test_send import readers, smtp_config

    monkeypatch.setattr(workers, "LOCKED_WAIT", 2.0)
    ingest_samples(engine, sample_config)
    build_issue(engine, sample_config)
    readers(engine, 12)
    with smtp_server() as sink, claim_not_committed(engine, 4):
        started = time.monotonic()
        report = run_week(engine, smtp_config(sample_config, sink.port), SendOptions(workers=2))
        took = time.monotonic() - started
    assert (report.sent, report.status, report.exit_code) == (8, "stopped", EXIT_STOPPED)
    assert report.remaining == 4 and report.note.startswith("4 readers left queued: another sender's claim")
    assert 2 <= took < 30


def test_a_run_that_stops_with_rows_left_exits_6(engine: Engine, sample_config: Config, env: dict[str, str]) -> None:
    ingest_samples(engine, sample_config)
    build_issue(engine, sample_config)
    many_readers(engine, 600)
    with smtp_server(Faults(delay=0.005)) as sink:
        limited = sender(env, sample_config, sink.port, "--limit", "10", "--json")
        limited_out, _ = limited.communicate(timeout=120)
        terminated = sender(env, sample_config, sink.port, "--json")
        wait_for(lambda: len(sink.messages) >= 60)
        terminated.send_signal(signal.SIGTERM)
        term_out, term_errors = terminated.communicate(timeout=60)
        finished = sender(env, sample_config, sink.port, "--json")
        finished.communicate(timeout=300)
    assert limited.returncode == EXIT_STOPPED and '"status": "stopped"' in limited_out
    assert terminated.returncode == EXIT_STOPPED, term_errors
    assert '"remaining": 0' not in term_out
    assert finished.returncode == 0
    assert set(statuses(engine).values()) == {"sent"}


def test_send_help_documents_the_exit_codes() -> None:
    shown = subprocess.run([sys.executable, "-m", "digest", "send", "--help"], capture_output=True, text=True,
                           env={**os.environ, "COLUMNS": "100"}).stdout  # fmt: skip
    for line in ("0  every message went out", "5  the run finished", "6  stopped with messages left", "7  the mail"):
        assert line in shown, shown
