"""Senders on several machines sharing one PostgreSQL, for real: three hosts, each a network
namespace with its own hostname (tests/netns.py), reach the database (a server of the test's
own, listening on their links: tests/pgserver.py) and the mail server only over their own
links. One host is cut off mid-send; the others take its claims over once its lease runs out,
and every reader is mailed once.

The two ways a host is cut off: from the database only (its link to the database goes down;
its relay still takes what it is sending, so every message it began goes out and nobody is
left unmailed), or from everything (both its links go down: the window it was sending may be
lost with it, and those readers are counted unknown, never mailed twice). Either way the
database hears nothing more from it and no error: the server finds it gone by itself, by the
idle-transaction timeout or its keepalives (digest.db.end_idle_transactions), and only then
are the row locks of a transaction the host had open let go (a cut in the middle of a
pipeline of statements is found by the keepalives alone)."""

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
from sqlalchemy import Connection, Engine
from sqlalchemy.engine import make_url
from sqlmodel import Session, select

from digest.build.issue import build_issue
from digest.config import Config
from digest.db import SILENT_CONNECTION_MS, create_db_engine, end_idle_transactions, open_database
from digest.deliver.ledger import Outbox
from digest.deliver.ledger import rows as ledger
from digest.models import Delivery, Subscriber
from tests.conftest import BACKEND
from tests.helpers import ingest_samples
from tests.netns import Host, hosts
from tests.pgserver import postgres_server
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
    mail: Proxy  # this machine's end of the host's way to the mail server
    process: Popen[str]


@contextmanager
def senders(
    machines: list[Host], sink: MailSink, db_url: str, env: dict[str, str], config: Config
) -> Iterator[list[Sender]]:
    """``digest send`` on each host, all on one issue, reaching the database on the host's own link to it."""
    database = make_url(db_url)
    with ExitStack() as stack:
        started = []
        for host in machines:
            to_mail = stack.enter_context(proxy(("127.0.0.1", sink.port), host.address))
            url = database.set(host=host.db_address).render_as_string(hide_password=False)
            host_env = {"PATH": "/usr/bin:/bin:/usr/sbin:/sbin", **env, "DIGEST_DATABASE_URL": url,
                        "DIGEST_BASE_URL": "https://digest.example.com",  # the relay is not on loopback
                        "DIGEST_SOURCES": str(config.settings.sources_path),
                        "DIGEST_SMTP_URL": f"smtp://{host.address}:{to_mail.port}"}  # fmt: skip
            process = host.start([sys.executable, "-m", "digest", "send", "--json"], env=host_env,
                                 cwd=config.base_dir, stdout=PIPE, stderr=PIPE)  # fmt: skip
            started.append(Sender(host, to_mail, process))
        yield started


@contextmanager
def shared_database(machines: list[Host]) -> Iterator[tuple[str, Engine]]:
    """The test's own PostgreSQL server, listening on each host's link to it, with digest's schema."""
    with postgres_server([host.db_address for host in machines]) as url:
        engine = open_database(url)
        try:
            yield url, engine
        finally:
            engine.dispose()


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
    sample_config: Config, env: dict[str, str], cut: str
) -> None:
    path = sample_config.settings.sources_path
    path.write_text(path.read_text().replace(
        "  workers: 1\n", f"  workers: {WORKERS}\n  lease_seconds: {LEASE}\n  commit_every: {COMMIT_EVERY}\n  batch: 40\n"
    ))  # fmt: skip
    with ExitStack() as stack:
        machines = stack.enter_context(hosts(3))
        db_url, engine = stack.enter_context(shared_database(machines))
        ingest_samples(engine, sample_config)
        build_issue(engine, sample_config)
        addresses = many_readers(engine, READERS)
        sink = stack.enter_context(smtp_server(Faults(delay=0.004)))
        running = stack.enter_context(senders(machines, sink, db_url, env, sample_config))
        victim, others = running[0], running[1:]
        wait_until_sending(sink, running)
        if cut == "database":
            victim.host.cut_database()  # its packets to PostgreSQL go nowhere, and no error comes back
        else:
            victim.host.cut()
        cut_at = len(sink.messages)
        outputs = [sender.process.communicate(timeout=240) for sender in others]
        if cut == "everything":  # its connections go silent: it gives up on them, and says so
            gave_up = victim.process.communicate(timeout=SILENT_CONNECTION_MS / 1000 + 120)
        victim.host.kill_all()
        received = sink.received()
        helos = set(sink.helos)
        state = deliveries(engine)

    codes = [sender.process.returncode for sender in others]
    assert codes in ([0, 0], [0, 5], [5, 0], [5, 5]), outputs  # 5: some readers are unknown (the cut host's window)
    reports = [json.loads(out) for out, _ in outputs]
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


# A sender cut off in the middle of a pipeline: the server has run its UPDATE (the row is
# locked) and waits for the rest, which is not "idle in transaction", so PostgreSQL's idle
# timeout never fires, and only the server's keepalives can find the client gone.
MID_PIPELINE = """
import sys, time
from digest.db import create_db_engine, end_idle_transactions
conn = create_db_engine(sys.argv[1]).connect()
end_idle_transactions(conn)  # as the ledger's transactions do
server = conn.connection.dbapi_connection.pgconn
server.enter_pipeline_mode()
server.send_query_params(b"UPDATE held SET n = n + 1 WHERE id = 1", None)  # and no Sync after it
server.flush()
print("holding", flush=True)
time.sleep(600)
"""


def test_a_transaction_cut_off_mid_pipeline_lets_go_of_its_locks_within_two_minutes() -> None:
    with hosts(1) as (host,), postgres_server([host.db_address]) as url:
        admin = create_db_engine(url)
        with admin.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE held (id int PRIMARY KEY, n int)")
            conn.exec_driver_sql("INSERT INTO held VALUES (1, 0)")
        there = make_url(url).set(host=host.db_address).render_as_string(hide_password=False)
        holder = host.start([sys.executable, "-c", MID_PIPELINE, there], stdout=PIPE, stderr=PIPE,
                            env={"PATH": "/usr/bin:/bin"})  # fmt: skip
        assert holder.stdout is not None
        if holder.stdout.readline() != "holding\n":
            holder.kill()
            pytest.fail(f"the holder did not start: {holder.communicate(timeout=30)}")
        with admin.connect() as conn:
            time.sleep(0.5)
            state = conn.exec_driver_sql(
                "SELECT state, wait_event FROM pg_stat_activity WHERE starts_with(query, 'UPDATE held')"
            ).one()
            assert tuple(state) == ("active", "ClientRead"), "it waits for the rest of the pipeline, not idle"
            host.cut_database()
            started = time.monotonic()
            conn.exec_driver_sql("SET lock_timeout = '150s'")  # the server's default keepalive: two hours
            conn.exec_driver_sql("UPDATE held SET n = 10 WHERE id = 1")
            waited = time.monotonic() - started
            conn.commit()
        host.kill_all()
        admin.dispose()
    print(f"\nthe lock of the transaction cut off mid-pipeline was let go after {waited:.0f} s")
    assert waited < 120


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


def test_only_the_ledgers_transactions_end_when_their_client_goes_silent(db_url: str) -> None:
    """What lets the others take over from a host cut off inside a transaction: the server
    ends a sender's transaction left idle for a minute, and finds a silent client by its own
    keepalives within about a minute (the server's default: two hours), ending a transaction
    cut off mid-statement, which is not idle (its row locks go with it). Every other
    transaction may stay idle: a build ranks for minutes inside one."""
    engine = create_db_engine(db_url)
    limits = ("idle_in_transaction_session_timeout", "tcp_keepalives_idle", "tcp_keepalives_interval",
              "tcp_keepalives_count", "tcp_user_timeout")  # fmt: skip

    def shown(conn: Connection) -> dict[str, str]:
        return {name: conn.exec_driver_sql(f"SHOW {name}").scalar() for name in limits}

    ledgers = dict(zip(limits, ["1min", "20", "10", "4", "60000"], strict=True))  # (SHOW says it in ms)
    with engine.connect() as conn:
        usual = shown(conn)
        assert usual["idle_in_transaction_session_timeout"] == "0"
        assert conn.exec_driver_sql("SHOW statement_timeout").scalar() == "0", "a sender's statements may take long"
        end_idle_transactions(conn)  # as a claim does, for its transaction
        assert shown(conn) == ledgers
        conn.commit()
        assert shown(conn) == usual, "a claim's limits end with its transaction"
    assert usual["tcp_keepalives_idle"] != "20", "the server's own keepalive differs (its default: 7200 s)"
    with Outbox(engine, "me:1:x", 60) as outbox:
        assert shown(outbox.conn) == ledgers
        outbox.conn.rollback()
    with engine.connect() as conn:
        assert shown(conn) == usual, "the sender's connection went back to the pool reset"
    engine.dispose()
