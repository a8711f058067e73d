"""Senders on several machines sharing one PostgreSQL, for real: three hosts, each a network
namespace with its own hostname (tests/netns.py), reach the database and the mail server only
over their own links. One host is cut off mid-send; the others take its claims over once its
lease runs out, and every reader is mailed once.

The two ways a host is cut off: from the database only (the bytes to PostgreSQL go nowhere,
tests/tcpproxy.py; its relay still takes what it is sending, so every message it began goes
out and nobody is left unmailed), or from everything (its link goes down: the window it was
sending may be lost with it, and those readers are counted unknown, never mailed twice)."""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from subprocess import PIPE, Popen

import pytest
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlmodel import Session, select

from digest.build.issue import build_issue
from digest.config import Config
from digest.db import SILENT_CONNECTION_MS, create_db_engine
from digest.deliver.ledger import Outbox
from digest.deliver.ledger import rows as ledger
from digest.models import Delivery, Subscriber
from tests.conftest import BACKEND
from tests.helpers import ingest_samples
from tests.netns import Host, hosts
from tests.smtpserver import Faults, MailSink, smtp_server
from tests.tcpproxy import Proxy, proxy
from tests.test_send_crash import many_readers

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(BACKEND != "postgresql", reason="senders on several hosts share a PostgreSQL database"),
]

READERS = 1200
LEASE = 4  # seconds: how long a cut-off host's claims stay its own
WORKERS, COMMIT_EVERY = 2, 8  # each host's connections, and the rows each marks sending at a time


@dataclass
class Sender:
    host: Host
    database: Proxy  # this machine's end of the host's way to PostgreSQL
    mail: Proxy  # and to the mail server
    process: Popen[str]


@contextmanager
def senders(count: int, sink: MailSink, db_url: str, env: dict[str, str], config: Config) -> Iterator[list[Sender]]:
    """``digest send`` on each of ``count`` hosts, all on one issue."""
    database = make_url(db_url)
    with ExitStack() as stack:
        started = []
        for host in stack.enter_context(hosts(count)):
            to_db = stack.enter_context(proxy((database.host or "127.0.0.1", database.port or 5432), host.address))
            to_mail = stack.enter_context(proxy(("127.0.0.1", sink.port), host.address))
            url = database.set(host=host.address, port=to_db.port).render_as_string(hide_password=False)
            host_env = {"PATH": "/usr/bin:/bin:/usr/sbin:/sbin", **env, "DIGEST_DATABASE_URL": url,
                        "DIGEST_BASE_URL": "https://digest.example.com",  # the relay is not on loopback
                        "DIGEST_SOURCES": str(config.settings.sources_path),
                        "DIGEST_SMTP_URL": f"smtp://{host.address}:{to_mail.port}"}  # fmt: skip
            process = host.start([sys.executable, "-m", "digest", "send", "--json"], env=host_env,
                                 cwd=config.base_dir, stdout=PIPE, stderr=PIPE)  # fmt: skip
            started.append(Sender(host, to_db, to_mail, process))
        yield started


def deliveries(engine: Engine) -> dict[str, tuple[str, str]]:
    """Each reader's delivery: (status, the ledger's reply)."""
    with Session(engine) as session:
        found = session.exec(select(Subscriber.email, Delivery.status, Delivery.reply).join(Delivery)).all()
    return {email: (status, reply or "") for email, status, reply in found}


def wait_until_sending(sink: MailSink, running: list[Sender], seconds: float = 60) -> None:
    """Until every host's connections are open and a quarter of the list went out."""
    deadline = time.monotonic() + seconds
    while len(sink.helos) < len(running) * WORKERS or len(sink.messages) < READERS // 4:
        ended = [s for s in running if s.process.poll() is not None]
        if ended or time.monotonic() > deadline:
            said = [s.process.communicate(timeout=5) if s in ended else ("", "still running") for s in running]
            pytest.fail(f"the senders did not all get going within {seconds:g} s: {said}")
        time.sleep(0.01)


@pytest.mark.parametrize("cut", ["database", "everything"])
def test_a_host_cut_off_mid_send_is_taken_over_and_every_reader_is_mailed_once(
    engine: Engine, sample_config: Config, env: dict[str, str], db_url: str, cut: str
) -> None:
    path = sample_config.settings.sources_path
    path.write_text(path.read_text().replace(
        "  workers: 1\n", f"  workers: {WORKERS}\n  lease_seconds: {LEASE}\n  commit_every: {COMMIT_EVERY}\n  batch: 40\n"
    ))  # fmt: skip
    ingest_samples(engine, sample_config)
    build_issue(engine, sample_config)
    addresses = many_readers(engine, READERS)
    with smtp_server(Faults(delay=0.004)) as sink, senders(3, sink, db_url, env, sample_config) as running:
        victim, others = running[0], running[1:]
        wait_until_sending(sink, running)
        if cut == "database":
            victim.database.frozen.set()  # its packets to PostgreSQL go nowhere, and no error comes back
        else:
            victim.host.cut()
        cut_at = len(sink.messages)
        outputs = [sender.process.communicate(timeout=240) for sender in others]
        if cut == "everything":  # its connections go silent: it gives up on them, and says so
            gave_up = victim.process.communicate(timeout=SILENT_CONNECTION_MS / 1000 + 120)
        victim.host.kill_all()
        received = sink.received()
        helos = set(sink.helos)

    codes = [sender.process.returncode for sender in others]
    assert codes in ([0, 0], [0, 5], [5, 0], [5, 5]), outputs  # 5: some readers are unknown (the cut host's window)
    reports = [json.loads(out) for out, _ in outputs]
    state = deliveries(engine)
    unknown = sorted(a for a, (status, _) in state.items() if status == "unknown")
    duplicates = [a for a, n in received.items() if n > 1]
    print(f"\ncut {cut} at {cut_at} received: {len(received)} readers mailed, {len(unknown)} unknown, "
          f"the others sent {[r['sent'] for r in reports]}")  # fmt: skip
    assert helos == {s.host.name for s in running}, "each sender ran on its own host (its EHLO names it)"
    assert duplicates == []
    assert Counter(status for status, _ in state.values()) == {"sent": READERS - len(unknown), "unknown": len(unknown)}
    assert all(state[a][1] == ledger.LOST for a in unknown), "taken over from the cut-off host"
    assert len(unknown) <= WORKERS * COMMIT_EVERY, "only the windows the cut-off host was sending are unknown"
    assert sum(r["unknown"] for r in reports) == len(unknown), "the hosts that took over say so"
    not_mailed = [a for a in addresses if a not in received]
    assert set(not_mailed) <= set(unknown), "every reader not mailed is counted unknown, none silently skipped"
    if cut == "database":
        assert not_mailed == [], "cut off from the database only, the host's relay took all it began"
    else:
        assert victim.process.returncode == 7, gave_up
        said = gave_up[1].strip().splitlines()
        print(f"the cut-off host, exit {victim.process.returncode}: {said[-1] if said else ''}")
        assert said and said[-1].startswith("Error: ") and "Traceback" not in gave_up[1], gave_up


def test_hosts_reach_only_their_own_links(tmp_path: Path) -> None:
    """The test hosts are isolated: a host reaches this machine's end of its own link, and neither
    this machine's loopback nor another host's link."""
    with hosts(2) as (first, second), proxy(("127.0.0.1", 9), first.address) as door:
        probe = ("import socket, sys\n"
                 "for target in sys.argv[1:]:\n"
                 "    host, port = target.rsplit(':', 1)\n"
                 "    try:\n"
                 "        socket.create_connection((host, int(port)), timeout=1).close(); print('open')\n"
                 "    except OSError:\n"
                 "        print('closed')\n")  # fmt: skip
        targets = [f"{first.address}:{door.port}", f"127.0.0.1:{door.port}", f"{second.address}:{door.port}"]
        out, _ = first.start([sys.executable, "-c", probe, *targets], stdout=PIPE).communicate(timeout=30)
    assert out.split() == ["open", "closed", "closed"]


def test_only_the_ledgers_transactions_end_when_left_idle(db_url: str) -> None:
    """What lets the others take over from a host cut off inside a transaction: the server
    ends a sender's transaction left idle for a minute (its row locks go with it). Every other
    transaction may stay idle: a build ranks for minutes inside one."""
    engine = create_db_engine(db_url)
    show = "SHOW idle_in_transaction_session_timeout"
    with engine.connect() as conn:
        assert conn.exec_driver_sql(show).scalar() == "0"
        assert conn.exec_driver_sql("SHOW statement_timeout").scalar() == "0", "a sender's statements may take long"
    with Outbox(engine, "me:1:x", 60) as outbox:
        assert outbox.conn.exec_driver_sql(show).scalar() == "1min"
        outbox.conn.rollback()
    with engine.connect() as conn:
        assert conn.exec_driver_sql(show).scalar() == "0", "the sender's connection went back to the pool reset"
    engine.dispose()
