"""digest send over a real SMTP server: one message per reader, a ledger that survives
faults, and headers mail providers need."""

from __future__ import annotations

import email
import email.policy
import os
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from digest.build.issue import build_issue
from digest.config import Config, Settings
from digest.deliver import ledger
from digest.deliver.send import SendOptions, default_processes
from digest.errors import SendAborted
from digest.models import Delivery, Event, Subscriber
from digest.subscribers import remove
from digest.week import run_week
from tests.conftest import KEY
from tests.helpers import add_reader, ingest_samples
from tests.smtpserver import Faults, smtp_server

pytestmark = pytest.mark.dates


def smtp_config(config: Config, port: int, **delivery: object) -> Config:
    settings = replace(config.settings, smtp_url=f"smtp://127.0.0.1:{port}", base_url="http://digest.test",
                       secret_keys=(KEY,))  # fmt: skip
    file = config.file.model_copy(update={"delivery": config.file.delivery.model_copy(update=delivery)})
    return replace(config, settings=settings, file=file)


@pytest.fixture
def issue_ready(engine: Engine, sample_config: Config) -> Config:
    ingest_samples(engine, sample_config)
    build_issue(engine, sample_config)
    return sample_config


def readers(engine: Engine, n: int, prefix: str = "reader") -> list[str]:
    addresses = [f"{prefix}{i:04d}@example.com" for i in range(n)]
    for i, address in enumerate(addresses):
        add_reader(engine, address, f"Reader {i}", roles=["product manager"] if i % 2 else [], remote=i % 3 == 0)
    return addresses


def test_two_hundred_readers_get_one_message_each_with_the_right_headers(engine: Engine, issue_ready: Config) -> None:
    addresses = readers(engine, 200)
    with smtp_server() as sink:
        config = smtp_config(issue_ready, sink.port)
        report = run_week(engine, config, SendOptions())
        again = run_week(engine, config, SendOptions())
    assert (report.sent, report.failed, report.unknown, report.deferred) == (200, 0, 0, 0)
    assert again.sent == 0 and sink.received() == {a: 1 for a in addresses}
    assert sink.connections == 1, "one connection is reused for every message"
    raw = dict(sink.messages)[addresses[7]]
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert message["To"] == f"Reader 7 <{addresses[7]}>"
    assert message["List-Unsubscribe"].startswith("<http://digest.test/u/")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["List-Id"] and message["Feedback-ID"] and message["Date"]
    other = email.message_from_bytes(dict(sink.messages)[addresses[8]], policy=email.policy.default)
    assert other["Feedback-ID"] == message["Feedback-ID"] and other["Message-ID"] != message["Message-ID"]
    with Session(engine) as session:
        statuses = {d.status for d in session.exec(select(Delivery))}
    assert statuses == {"sent"}


def test_a_reader_removed_half_way_is_never_mailed(engine: Engine, issue_ready: Config) -> None:
    addresses = readers(engine, 40)
    with smtp_server() as sink:
        config = smtp_config(issue_ready, sink.port)
        first = run_week(engine, config, SendOptions(limit=20))
        waiting = [a for a in addresses if a not in sink.received()]
        remove(engine, waiting[5])
        second = run_week(engine, config, SendOptions())
    assert (first.sent, second.sent, second.skipped) == (20, 19, 1)
    assert waiting[5] not in sink.received() and max(sink.received().values()) == 1


def test_4xx_is_retried_5xx_fails_and_bounces(engine: Engine, issue_ready: Config) -> None:
    addresses = readers(engine, 6)
    faults = Faults(rcpt={addresses[1]: "550 5.1.1 no such mailbox", addresses[2]: "451 4.7.1 try later"},
                    data={addresses[3]: "452 4.3.1 out of storage"})  # fmt: skip
    with smtp_server(faults) as sink:
        config = smtp_config(issue_ready, sink.port, retry_backoff=[0.1, 0.1])
        report = run_week(engine, config, SendOptions())
    assert (report.sent, report.failed, report.deferred) == (5, 1, 0), "the 4xx ones were retried in the same run"
    assert sink.received() == {a: 1 for a in addresses if a != addresses[1]}
    with Session(engine) as session:
        bounced = session.exec(select(Subscriber).where(Subscriber.email == addresses[1])).one()
        failed = session.exec(select(Delivery).where(Delivery.subscriber_id == bounced.id)).one()
        event = session.exec(select(Event).where(Event.subscriber_id == bounced.id)).one()
    assert bounced.status == "bounced" and failed.status == "failed" and failed.reply.startswith("550")
    assert (event.kind, event.method) == ("bounced", "smtp")


def test_persistent_4xx_is_left_for_the_next_run(engine: Engine, issue_ready: Config) -> None:
    addresses = readers(engine, 3)
    faults = Faults(rcpt={addresses[0]: "450 4.2.0 mailbox busy"}, once=False)
    with smtp_server(faults) as sink:
        config = smtp_config(issue_ready, sink.port, retry_backoff=[0.05])
        report = run_week(engine, config, SendOptions())
        assert (report.sent, report.deferred, report.remaining) == (2, 1, 1)
        faults.rcpt.clear()
        later = run_week(engine, config, SendOptions())
    assert later.sent == 1 and sink.received() == {a: 1 for a in addresses}


def test_repeated_soft_failures_suppress_the_address(engine: Engine, issue_ready: Config) -> None:
    addresses = readers(engine, 2)
    faults = Faults(rcpt={addresses[0]: "452 4.2.2 mailbox full"}, once=False)
    with smtp_server(faults) as sink:
        config = smtp_config(issue_ready, sink.port, retry_backoff=[], max_soft_failures=1)
        report = run_week(engine, config, SendOptions())
    assert (report.sent, report.deferred) == (1, 1)
    with Session(engine) as session:
        reader = session.exec(select(Subscriber).where(Subscriber.email == addresses[0])).one()
        event = session.exec(select(Event).where(Event.subscriber_id == reader.id)).one()
    assert reader.status == "bounced" and (event.kind, event.method) == ("bounced", "soft")


def test_a_drop_after_data_is_unknown_and_never_resent_silently(engine: Engine, issue_ready: Config) -> None:
    addresses = readers(engine, 5)
    with smtp_server(Faults(drop_after_data={addresses[2]})) as sink:
        config = smtp_config(issue_ready, sink.port)
        report = run_week(engine, config, SendOptions())
        again = run_week(engine, config, SendOptions())
        assert (report.sent, report.unknown, again.sent) == (4, 1, 0)
        assert sink.received()[addresses[2]] == 1
        resent = run_week(engine, config, SendOptions(resend_unknown=True))
    assert resent.sent == 1 and sink.received()[addresses[2]] == 2, "only when the operator asks"


def test_unreachable_smtp_is_one_error_and_nothing_is_lost(engine: Engine, issue_ready: Config) -> None:
    readers(engine, 3)
    config = smtp_config(issue_ready, 1)
    with pytest.raises(SendAborted, match=r"cannot connect to smtp://127\.0\.0\.1:1"):
        run_week(engine, config, SendOptions())
    with Session(engine) as session:
        assert {d.status for d in session.exec(select(Delivery))} == {"queued"}


def test_dry_run_and_test_copy_stay_outside_the_ledger(engine: Engine, issue_ready: Config) -> None:
    readers(engine, 5)
    with smtp_server() as sink:
        config = smtp_config(issue_ready, sink.port)
        dry = run_week(engine, config, SendOptions(dry_run=True))
        test = run_week(engine, config, SendOptions(to="Boss@Example.COM"))
    assert dry.status == "dry-run" and dry.remaining == 5 and test.status == "test"
    assert sink.received() == {"boss@example.com": 1}
    with Session(engine) as session:
        assert session.exec(select(Delivery)).all() == []


def test_suppression_is_checked_just_before_each_message(engine: Engine, issue_ready: Config) -> None:
    addresses = readers(engine, 3)
    with smtp_server() as sink:
        config = smtp_config(issue_ready, sink.port)
        issue = build_issue(engine, config)
        from digest.build.issue import find_issue

        ledger.enqueue(engine, find_issue(engine, issue.week).id or 0)  # queued before the unsubscribe
        remove(engine, addresses[0])
        report = run_week(engine, config, SendOptions())
    assert (report.sent, report.skipped) == (2, 1) and addresses[0] not in sink.received()


def test_workers_and_rate(engine: Engine, issue_ready: Config) -> None:
    addresses = readers(engine, 60)
    with smtp_server() as sink:
        config = smtp_config(issue_ready, sink.port)
        started = datetime.now(UTC)
        report = run_week(engine, config, SendOptions(workers=3, rate=100))
        elapsed = datetime.now(UTC) - started
    assert report.sent == 60 and sink.received() == {a: 1 for a in addresses}
    assert sink.connections == 3 and elapsed >= timedelta(seconds=0.5), "60 messages at 100/s take 0.6 s"


def test_smtp_url_with_a_password_is_never_printed(engine: Engine, issue_ready: Config) -> None:
    readers(engine, 1)
    config = replace(issue_ready, settings=Settings(smtp_url="smtp://user:hunter2@127.0.0.1:1"))
    with pytest.raises(SendAborted) as caught:
        run_week(engine, config, SendOptions())
    assert "hunter2" not in str(caught.value) and "user:***@" in str(caught.value)


def test_maildir_is_the_default(engine: Engine, issue_ready: Config, tmp_path: Path) -> None:
    readers(engine, 3)
    config = replace(issue_ready, settings=Settings(smtp_url=f"maildir:{tmp_path / 'box'}"))
    assert run_week(engine, config, SendOptions()).sent == 3
    assert len(list((tmp_path / "box" / "new").iterdir())) == 3


def test_sender_processes_share_the_work(engine: Engine, issue_ready: Config) -> None:
    addresses = readers(engine, 300)
    with smtp_server() as sink:
        config = smtp_config(issue_ready, sink.port)
        report = run_week(engine, config, SendOptions(workers=4, processes=2))
        again = run_week(engine, config, SendOptions(workers=4, processes=2))
    assert (report.sent, report.failed, report.unknown, again.sent) == (300, 0, 0, 0)
    assert sink.received() == {a: 1 for a in addresses} and sink.connections == 4
    with Session(engine) as session:
        claimers = {d.claimed_by for d in session.exec(select(Delivery))}
    assert claimers == {None}


@pytest.mark.parametrize("pipelining", [True, False])
def test_a_faulty_server_never_gets_a_message_twice(engine: Engine, issue_ready: Config, pipelining: bool) -> None:
    """421, 451 and 550 replies and dropped connections at MAIL, RCPT and after DATA, at random:
    after repeated runs every reader was delivered once, failed with the server's reply, or
    is unknown; nobody twice, nobody left behind."""
    addresses = readers(engine, 300)
    runs = []
    with smtp_server(Faults(chaos=0.3, seed=48, pipelining=pipelining)) as sink:
        config = smtp_config(issue_ready, sink.port, retry_backoff=[0.01, 0.01])
        for _ in range(12):
            runs.append(run_week(engine, config, SendOptions()))
            if runs[-1].remaining == 0:
                break
        received = sink.received()
    with Session(engine) as session:
        rows = session.exec(select(Subscriber.email, Delivery.status, Delivery.reply).join(Delivery)).all()
    state = {email: (status, reply) for email, status, reply in rows}
    assert runs[-1].remaining == 0 and max(received.values()) == 1
    assert {s for s, _ in state.values()} <= {"sent", "failed", "unknown", "skipped"}
    assert all(received.get(a, 0) == 1 for a in addresses if state[a][0] == "sent")
    assert all(state[a][1].startswith("550") for a in addresses if state[a][0] == "failed")
    counts = {s: sum(1 for v in state.values() if v[0] == s) for s in ("sent", "failed", "unknown", "skipped")}
    print(
        f"\nfaulty SMTP (pipelining {pipelining}): {len(runs)} runs, {counts}, duplicates 0, connections {sink.connections}"
    )
    assert counts["sent"] > 150 and counts["failed"] > 0 and counts["unknown"] > 0


def test_a_relay_that_goes_away_mid_run_counts_each_message_once(engine: Engine, issue_ready: Config) -> None:
    """The relay takes 12 messages, answers 421 and stops listening: the run stops, and the
    report counts what the relay took, once (an earlier sender counted a committed window
    twice when the connection could not be made again)."""
    for n in range(26):
        add_reader(engine, f"reader{n}@example.com", f"Reader {n}")
    with smtp_server(Faults(go_away_after=12)) as sink:
        config = smtp_config(issue_ready, sink.port, commit_every=8, retry_backoff=[])
        with pytest.raises(SendAborted) as stopped:
            run_week(engine, config, SendOptions())
    report = stopped.value.report
    issue_id = report_issue_id(engine)
    assert len(sink.messages) == 12
    assert report.sent == ledger.counts(engine, issue_id)["sent"] == 12
    assert report.remaining == ledger.pending(engine, issue_id) > 0


def report_issue_id(engine: Engine) -> int:
    from digest.build.issue import find_issue

    return find_issue(engine, None).id or 0


def test_a_test_copy_is_that_readers_version_marked_test_with_links_that_do_nothing(
    engine: Engine, issue_ready: Config
) -> None:
    """`send --to ME --as READER`: READER's picks and name, [TEST] in the subject, and links
    that act on nobody (an unsubscribe clicked in a test copy used to unsubscribe its reader)."""
    import httpx

    from digest.errors import SubscriberError
    from tests.webserver import running

    add_reader(engine, "ada@example.com", "Ada", audience="people")
    with smtp_server(Faults(rcpt={"refused@example.com": "550 5.1.1 no such user"})) as sink:
        config = smtp_config(issue_ready, sink.port)
        report = run_week(engine, config, SendOptions(to="Me@Example.com", as_reader="ADA@example.com"))
        plain = run_week(engine, config, SendOptions(to="me@example.com"))
        with pytest.raises(SubscriberError, match=r"--as nobody@example.com: no such reader"):
            run_week(engine, config, SendOptions(to="me@example.com", as_reader="nobody@example.com"))
        with pytest.raises(SendAborted, match=r"refused the test copy: 550 5.1.1 no such user"):
            run_week(engine, config, SendOptions(to="refused@example.com"))
        messages = [email.message_from_bytes(raw, policy=email.policy.default) for _, raw in sink.messages]
    assert report.status == "test" and report.sent == 1 and "ada@example.com's version" in report.note
    assert plain.sent == 1 and sink.received() == {"me@example.com": 2}
    ada, anyone = messages
    assert str(ada["Subject"]).startswith("[TEST] ") and str(anyone["Subject"]).startswith("[TEST] ")
    ada_text = ada.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    anyone_text = anyone.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Ada" in ada_text and "TOP JOBS THIS WEEK" not in ada_text, "Ada's version: people only, her name"
    assert "TOP JOBS THIS WEEK" in anyone_text
    unsubscribe = str(ada["List-Unsubscribe"]).strip("<>").removeprefix("http://digest.test")
    with running(engine, config) as base, httpx.Client(base_url=base) as client:
        page = client.get(unsubscribe)
        posted = client.post(unsubscribe, data={"List-Unsubscribe": "One-Click"})
    assert page.status_code == posted.status_code == 200 and "test copy" in posted.text
    with Session(engine) as session:
        assert session.exec(select(Subscriber.status).where(Subscriber.email == "ada@example.com")).one() == "active"
        assert session.exec(select(Delivery)).all() == []


def test_sender_processes_by_default_one_per_core_and_never_more_than_connections(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0, 1}, raising=False)
    assert [default_processes(w) for w in (1, 2, 4, 16)] == [1, 2, 2, 2]
    monkeypatch.delattr(os, "sched_getaffinity")  # macOS, Windows: the machine's count instead
    monkeypatch.setattr(os, "cpu_count", lambda: 3)
    assert [default_processes(w) for w in (1, 2, 4)] == [1, 2, 3]
    monkeypatch.setattr(os, "cpu_count", lambda: None)
    assert default_processes(4) == 1
