"""A relay's refusal is not a reader's bounce: digest send against a real SMTP server that
refuses us (no login, a policy, a size limit), and one that refuses a reader's mailbox."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections import Counter

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from digest.config import Config
from digest.deliver.send import EXIT_ABORTED, SendOptions
from digest.deliver.transport import SmtpTransport, parse_smtp_url
from digest.errors import SendAborted, TransportError
from digest.models import Delivery, Event, Subscriber
from digest.week import run_week
from tests import postfix
from tests.smtpserver import Faults, smtp_server
from tests.test_send import issue_ready, readers, smtp_config

pytestmark = pytest.mark.dates

__all__ = ["issue_ready"]  # the fixture, used by name

READERS = 30


def statuses(engine: Engine) -> tuple[Counter[str], Counter[str]]:
    """(subscriber statuses, delivery statuses)."""
    with Session(engine) as session:
        people = Counter(s.status for s in session.exec(select(Subscriber)))
        rows = Counter(d.status for d in session.exec(select(Delivery)))
    return people, rows


@pytest.mark.parametrize(
    "faults",
    [
        Faults(every_rcpt="554 5.7.1 Client host rejected: Access denied"),
        Faults(every_data="552 5.3.4 message file too big"),
        Faults(every_rcpt="550 relay not permitted", pipelining=False),  # a bare 550: no reason to suppress anyone
    ],
    ids=["5.7.1 at RCPT", "5.3.4 after DATA", "no enhanced code"],
)
def test_a_refusal_of_every_message_bounces_nobody_and_stops_the_run(
    engine: Engine, issue_ready: Config, faults: Faults
) -> None:
    readers(engine, READERS)
    with smtp_server(faults) as sink:
        config = smtp_config(issue_ready, sink.port, refusals_in_a_row=10)
        with pytest.raises(SendAborted, match="refused 10 messages in a row") as stopped:
            run_week(engine, config, SendOptions())
        attempts = len(sink.mail_options)
    people, rows = statuses(engine)
    assert people == {"active": READERS}, "nobody is bounced for the relay's refusal"
    assert rows == {"queued": READERS}, "the refused messages and the rest stay queued for the next run"
    assert attempts < READERS, "the run stopped early"
    assert (faults.every_rcpt or faults.every_data or "")[:9] in str(stopped.value), "the error names the reply"
    with Session(engine) as session:
        assert session.exec(select(Event)).all() == []


def test_a_mailbox_that_does_not_exist_still_bounces_its_reader(engine: Engine, issue_ready: Config) -> None:
    addresses = readers(engine, 12)
    faults = Faults(rcpt={a: "550 5.1.1 <x>: Recipient address rejected: User unknown" for a in addresses[:11]})
    with smtp_server(faults) as sink:
        report = run_week(engine, smtp_config(issue_ready, sink.port, refusals_in_a_row=3), SendOptions())
    people, rows = statuses(engine)
    assert (report.sent, report.failed) == (1, 11), "a streak of bounces is the readers', not a reason to stop"
    assert people == {"bounced": 11, "active": 1} and rows == {"failed": 11, "sent": 1}


def test_isolated_refusals_fail_the_message_only(engine: Engine, issue_ready: Config) -> None:
    addresses = readers(engine, 6)
    faults = Faults(data={addresses[1]: "550 5.7.1 message refused by policy", addresses[4]: "554 5.6.0 bad MIME"})
    with smtp_server(faults) as sink:
        report = run_week(engine, smtp_config(issue_ready, sink.port), SendOptions())
    people, rows = statuses(engine)
    assert (report.sent, report.failed) == (4, 2) and people == {"active": 6} and rows == {"sent": 4, "failed": 2}


def test_the_cli_says_one_error_line_and_exits_7(engine: Engine, issue_ready: Config, env: dict[str, str]) -> None:
    readers(engine, READERS)
    with smtp_server(Faults(every_rcpt="554 5.7.1 Client host rejected: Access denied")) as sink:
        run = subprocess.run(
            [sys.executable, "-m", "digest", "send"], capture_output=True, text=True, cwd=issue_ready.base_dir,
            env={**os.environ, **env, "DIGEST_SOURCES": str(issue_ready.settings.sources_path),
                 "DIGEST_SMTP_URL": f"smtp://127.0.0.1:{sink.port}"},
        )  # fmt: skip
    errors = [line for line in run.stderr.splitlines() if line.startswith("Error:")]
    assert run.returncode == EXIT_ABORTED, run.stderr
    assert len(errors) == 1 and "554 5.7.1 Client host rejected" in errors[0], run.stderr
    assert "Traceback" not in run.stderr
    assert statuses(engine)[0] == {"active": READERS}


def test_size_is_declared_and_an_oversized_message_is_never_sent(engine: Engine, issue_ready: Config) -> None:
    readers(engine, 3)
    with smtp_server() as sink:
        report = run_week(engine, smtp_config(issue_ready, sink.port), SendOptions())
        declared = [int(o.removeprefix("SIZE=")) for opts in sink.mail_options for o in opts if o.startswith("SIZE=")]
        sizes = [len(raw) for _, raw in sink.messages]
    assert report.sent == 3 and len(declared) == 3, sink.mail_options
    assert all(0 <= d - s < 200 for d, s in zip(declared, sizes, strict=True)), (declared, sizes)
    readers(engine, READERS, prefix="big")
    with smtp_server(Faults(size_limit=4000)) as small:
        with pytest.raises(SendAborted, match=r"refused \d+ messages in a row \(size\).*SIZE limit"):
            run_week(engine, smtp_config(issue_ready, small.port, refusals_in_a_row=5), SendOptions())
        assert small.messages == [] and small.mail_options == [], "nothing over the limit goes out, not even MAIL"
    people, _ = statuses(engine)
    assert people == {"active": READERS + 3}


def test_ehlo_names_this_host_or_the_configured_name(engine: Engine, issue_ready: Config) -> None:
    readers(engine, 2)
    with smtp_server() as sink:
        run_week(engine, smtp_config(issue_ready, sink.port), SendOptions())
        readers(engine, 1, prefix="more")
        run_week(engine, smtp_config(issue_ready, sink.port, helo="mail.digest.example"), SendOptions())
    assert sink.helos == [socket.getfqdn(), "mail.digest.example"]
    assert not sink.helos[0].startswith("[")


def test_a_refused_login_and_a_missing_starttls_still_end_with_quit() -> None:
    with smtp_server(Faults(login=("digest", "right"))) as sink:
        transport = SmtpTransport(parse_smtp_url(f"smtp://digest:wrong@127.0.0.1:{sink.port}"))
        with pytest.raises(TransportError, match="refused the login: 535"):
            transport.connect()
        plain = SmtpTransport(parse_smtp_url(f"smtp://127.0.0.1:{sink.port}?starttls=true"))
        with pytest.raises(TransportError, match="STARTTLS"):
            plain.connect()
        good = SmtpTransport(parse_smtp_url(f"smtp://digest:right@127.0.0.1:{sink.port}"))
        good.connect()
        good.close()
        time.sleep(0.2)
        assert sink.quits == 3, "QUIT after a refused login, a missing STARTTLS, and a normal end"


def test_relay_trouble_left_deferred_never_suppresses_a_reader(engine: Engine, issue_ready: Config) -> None:
    """A relay answering 451 for weeks must not bounce the list (delivery.max_soft_failures
    counts only the reader's own mailbox deferring them)."""
    addresses = readers(engine, 2)
    faults = Faults(rcpt={addresses[0]: "451 4.3.0 temporary lookup failure"}, once=False)
    with smtp_server(faults) as sink:
        report = run_week(
            engine, smtp_config(issue_ready, sink.port, retry_backoff=[], max_soft_failures=1), SendOptions()
        )
    assert (report.sent, report.deferred) == (1, 1)
    assert statuses(engine)[0] == {"active": 2}


@pytest.mark.skipif(not postfix.available(), reason="needs Debian's postfix")
def test_through_a_real_postfix_relay(engine: Engine, issue_ready: Config) -> None:
    """The field cases: Postfix refusing a client that did not log in (554 5.7.1), a relay
    whose size limit the issue exceeds (552 5.3.4), and a mailbox that does not exist (550 5.1.1)."""
    addresses = readers(engine, READERS)
    smtpd = {
        "no login": "-o smtpd_client_restrictions=reject",
        "small": "-o message_size_limit=20000",
        "open": f"-o {{smtpd_recipient_restrictions=check_recipient_access "
                f"inline:{{{{{addresses[3]}=550 5.1.1 User unknown}}}}}}",
    }  # fmt: skip
    with postfix.postfix_relay(smtpd) as relay:
        for name, reply in (("no login", "554 5.7.1"), ("small", "552 5.3.4")):
            config = smtp_config(issue_ready, relay.ports[name], refusals_in_a_row=10)
            with pytest.raises(SendAborted, match=f"refused 10 messages in a row .*{reply}"):
                run_week(engine, config, SendOptions())
            assert statuses(engine) == (Counter({"active": READERS}), Counter({"queued": READERS})), name
        report = run_week(engine, smtp_config(issue_ready, relay.ports["open"]), SendOptions())
        time.sleep(1)  # the discard transport logs each delivery
        log = relay.lines()
    people, _ = statuses(engine)
    assert (report.sent, report.failed) == (READERS - 1, 1) and people == {"active": READERS - 1, "bounced": 1}
    delivered = [line for line in log if "postfix/discard" in line and "status=sent" in line]
    refused = [line for line in log if "NOQUEUE: reject: RCPT" in line]
    ended = [line for line in log if "postfix/smtpd" in line and " disconnect from " in line]
    hung_up = [line for line in log if "too many errors" in line]  # Postfix's smtpd_hard_error_limit (20)
    assert len(delivered) == READERS - 1
    assert refused and all(f"helo=<{socket.getfqdn()}>" in line for line in refused), refused[:1]
    ours = [line for line in ended if "ehlo=1" in line]  # not the probes that waited for it to start
    dropped_by_postfix = {pid_of(line) for line in hung_up}
    assert len(ours) == 3 and len(dropped_by_postfix) <= 1, ended
    assert all("quit=1" in line for line in ours if pid_of(line) not in dropped_by_postfix), ours
    assert "data=29/30" in ours[-1], ours[-1]


def pid_of(line: str) -> str:
    return line.split("postfix/smtpd[", 1)[1].split("]", 1)[0]


def test_a_streak_of_refusals_outlasts_a_dropped_connection() -> None:
    """A relay that hangs up after so many errors (Postfix: 20) must not reset the count:
    only a message that went out, a reader's own refusal or another kind of refusal does."""
    from digest.deliver.transport import PermanentFailure, Reply
    from digest.deliver.workers import Refusals

    policy = PermanentFailure(Reply(554, "5.7.1 Client host rejected: Access denied"), "RCPT")
    refusals = Refusals(limit=6)
    assert [refusals.note(policy, n) for n in range(5)] == [None] * 5
    # a dropped connection is a deferral, never noted: the streak goes on after the reconnect
    stop = refusals.note(policy, 5)
    assert stop is not None and "refused 6 messages in a row (policy): 554 5.7.1" in str(stop)
    assert refusals.requeued() == [0, 1, 2, 3, 4, 5]
    fresh = Refusals(limit=3)
    fresh.note(policy, 1)
    fresh.note(None)  # a message went out
    fresh.note(policy, 2)
    fresh.note(PermanentFailure(Reply(552, "5.3.4 too big"), "end of DATA"), 3)  # another kind
    assert fresh.note(policy, 4) is None and fresh.requeued() == []
