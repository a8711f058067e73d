"""Crashes and races: SIGKILL mid-send, and two senders at once on the same issue."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from digest.build.issue import build_issue
from digest.config import Config
from digest.models import Delivery, Subscriber
from digest.subscribers import import_rows
from tests.helpers import ingest_samples
from tests.smtpserver import Faults, smtp_server

pytestmark = [pytest.mark.slow, pytest.mark.dates]


def many_readers(engine: Engine, n: int) -> list[str]:
    addresses = [f"reader{i:05d}@example.com" for i in range(n)]
    rows = ((i + 2, {"email": a, "name": f"Reader {i}", "roles": "product manager" if i % 2 else ""})
            for i, a in enumerate(addresses))  # fmt: skip
    assert import_rows(engine, rows).added == n
    return addresses


def sender(env: dict[str, str], config: Config, port: int, *args: str) -> subprocess.Popen[str]:
    full = {**os.environ, **env, "DIGEST_SOURCES": str(config.settings.sources_path),
            "DIGEST_SMTP_URL": f"smtp://127.0.0.1:{port}"}  # fmt: skip
    return subprocess.Popen([sys.executable, "-m", "digest", "send", *args], env=full, cwd=config.base_dir,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip


def statuses(engine: Engine) -> dict[str, str]:
    with Session(engine) as session:
        rows = session.exec(select(Subscriber.email, Delivery.status).join(Delivery)).all()
    return dict(rows)


@pytest.mark.parametrize("commit_every", [1, 8])
def test_three_sigkills_then_a_final_send(
    engine: Engine, sample_config: Config, env: dict[str, str], commit_every: int
) -> None:
    """A kill leaves at most the window in flight (delivery.commit_every rows) unknown: with
    a window of 1, only the message in flight."""
    path = sample_config.settings.sources_path
    path.write_text(path.read_text().replace("  workers: 1\n", f"  workers: 1\n  commit_every: {commit_every}\n"))
    ingest_samples(engine, sample_config)
    build_issue(engine, sample_config)
    addresses = many_readers(engine, 1500)
    rng = random.Random(48)
    with smtp_server(Faults(delay=0.002)) as sink:
        for _kill in range(3):
            before = len(sink.messages)
            process = sender(env, sample_config, sink.port)
            deadline = time.monotonic() + 60
            while len(sink.messages) < before + rng.randint(50, 250) and time.monotonic() < deadline:
                if process.poll() is not None:
                    pytest.fail(f"sender ended early: {process.stderr.read() if process.stderr else ''}")
                time.sleep(0.005)
            process.send_signal(signal.SIGKILL)
            process.wait()
        final = sender(env, sample_config, sink.port, "--json")
        out, errors = final.communicate(timeout=300)
        received = sink.received()
    assert final.returncode in (0, 5), errors
    state = statuses(engine)
    duplicates = [a for a, n in received.items() if n > 1]
    not_mailed = [a for a in addresses if a not in received]
    unknown = [a for a, s in state.items() if s == "unknown"]
    print(f"\nSIGKILL x3, commit_every {commit_every}: received {len(received)}, duplicates {len(duplicates)}, unknown {len(unknown)}, "
          f"not mailed {len(not_mailed)}")  # fmt: skip
    assert duplicates == []
    assert all(state[a] == "unknown" for a in not_mailed), "every reader not mailed is counted as unknown"
    assert all(state[a] in ("sent", "unknown") for a in addresses), Counter(state.values())
    assert len(unknown) <= 3 * commit_every, "only the window in flight at each kill is unknown, not whole batches"
    assert '"unknown"' in out


def test_two_senders_at_once_mail_each_reader_once(engine: Engine, sample_config: Config, env: dict[str, str]) -> None:
    ingest_samples(engine, sample_config)
    build_issue(engine, sample_config)
    addresses = many_readers(engine, 400)
    with smtp_server(Faults(delay=0.001)) as sink:
        first = sender(env, sample_config, sink.port, "--json")
        second = sender(env, sample_config, sink.port, "--json")
        outputs = [p.communicate(timeout=300) for p in (first, second)]
        received = sink.received()
    assert first.returncode == 0 and second.returncode == 0, outputs
    assert received == {a: 1 for a in addresses}
    assert set(statuses(engine).values()) == {"sent"}
    sent_by_each = [int(out.split('"sent": ')[1].split(",")[0]) for out, _ in outputs]
    assert sum(sent_by_each) == 400


@pytest.fixture
def env(env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    return {k: v for k, v in env.items() if k != "DIGEST_SOURCES"}


def test_three_senders_share_one_issue(engine: Engine, sample_config: Config, env: dict[str, str]) -> None:
    """Three `digest send` processes on one issue: each claims batches (FOR UPDATE SKIP LOCKED on
    PostgreSQL), each sends some, and every reader gets exactly one message."""
    ingest_samples(engine, sample_config)
    build_issue(engine, sample_config)
    addresses = many_readers(engine, 3000)
    # 5 ms per message at the server: the send lasts several seconds, longer than a process's
    # start-up, so a sender that starts a second late still finds work to claim
    with smtp_server(Faults(delay=0.005)) as sink:
        processes = [sender(env, sample_config, sink.port, "--json") for _ in range(3)]
        outputs = [p.communicate(timeout=600) for p in processes]
        received = sink.received()
    assert all(p.returncode == 0 for p in processes), outputs
    sent_by_each = [int(out.split('"sent": ')[1].split(",")[0]) for out, _ in outputs]
    print(f"\nthree senders: {sent_by_each}")
    assert sum(sent_by_each) == 3000 and all(n > 0 for n in sent_by_each)
    assert received == {a: 1 for a in addresses}
    assert set(statuses(engine).values()) == {"sent"}
