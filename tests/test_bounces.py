"""Bounces that arrive later: real-shaped reports in a Maildir and in a real IMAP server
(Debian's dovecot), a DSN that a real Postfix makes itself, and the rules: only the right
readers change, a forged report changes nobody, and a second read changes nothing."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine
from sqlmodel import Session, select

from digest.cli import main
from digest.config import Config
from digest.deliver.returnpath import ReturnPath
from digest.deliver.send import SendOptions
from digest.deliver.stats import issue_stats
from digest.errors import ConfigError, InputError
from digest.feedback.mailbox import ImapBox, MaildirBox, parse_imap_url
from digest.feedback.run import read_bounces
from digest.models import Event, Feedback, Subscriber
from digest.tokens import Signer
from digest.week import run_week
from tests import dovecot, postfix, reports
from tests.conftest import KEY
from tests.helpers import add_reader, require_program
from tests.smtpserver import smtp_server
from tests.test_send import issue_ready, smtp_config

pytestmark = pytest.mark.dates

__all__ = ["issue_ready"]  # the fixture, used by name

VERP = "bounces+{token}@returns.test"
PLAIN = "bounces@returns.test"
READERS = ("hard", "delay", "complain", "ooo", "qmail", "victim", "quiet")


@dataclass
class Mailed:
    config: Config
    messages: dict[str, bytes]  # local part: the message as sent
    senders: dict[str, str]  # local part: its envelope sender

    def to(self, who: str) -> str:
        return f"{who}@example.com"


@pytest.fixture
def mailed(engine: Engine, issue_ready: Config) -> Mailed:
    for who in READERS:
        add_reader(engine, f"{who}@example.com")
    with smtp_server() as sink:
        config = smtp_config(issue_ready, sink.port, return_path=VERP)
        assert run_week(engine, config, SendOptions()).sent == len(READERS)
    by_rcpt = dict(sink.messages)
    return Mailed(config, {w: by_rcpt[f"{w}@example.com"] for w in READERS},
                  {w: sink.senders[f"{w}@example.com"] for w in READERS})  # fmt: skip


def the_reports(m: Mailed, engine: Engine) -> dict[str, bytes]:
    """One of each: what the Done-when names, and the forgeries."""
    victim_id = public_id(engine, "victim@example.com")
    forged_token = "b" * 48  # a token's shape, not its MAC
    return {
        "hard": reports.postfix_dsn(m.senders["hard"], m.to("hard"), m.messages["hard"]),
        "delay": reports.postfix_dsn(m.senders["delay"], m.to("delay"), m.messages["delay"], action="delayed",
                                     status="4.2.2", diagnostic="smtp; 452 4.2.2 mailbox full", whole=False),
        "delay again": reports.postfix_dsn(m.senders["delay"], m.to("delay"), m.messages["delay"], action="delayed",
                                           status="4.4.1", diagnostic="smtp; connect timed out", whole=False),
        "complaint": reports.arf_complaint(PLAIN, m.to("complain"), m.messages["complain"]),
        "out of office": reports.out_of_office(m.senders["ooo"], m.to("ooo"), m.messages["ooo"]),
        "text bounce": reports.qmail_bounce(m.senders["qmail"], m.to("qmail"), m.messages["qmail"]),
        "unknown address": reports.postfix_dsn(PLAIN, "stranger@elsewhere.example",
                                               reports.stranger_headers("stranger@elsewhere.example")),
        "forged token": reports.postfix_dsn(f"bounces+{forged_token}@returns.test", m.to("victim"),
                                            reports.stranger_headers(m.to("victim"))),
        "forged message id": reports.postfix_dsn(PLAIN, m.to("victim"), (
            f"From: x <news@example.com>\r\nTo: {m.to('victim')}\r\nSubject: Week 1\r\n"
            f"Message-ID: <digest.2026-W01.{victim_id}@example.com>\r\n\r\n").encode()),
        "forged, our message id": reports.postfix_dsn(PLAIN, m.to("victim"), m.messages["victim"]),
        "forged complaint": reports.arf_complaint(PLAIN, m.to("victim"), (
            f"From: x <news@example.com>\r\nTo: {m.to('victim')}\r\nSubject: Week\r\n"
            f"Message-ID: <digest.{week_of(m)}.{victim_id}.aaaaaaaaaaaaaaaa@example.com>\r\n\r\n").encode()),
        "not a report": reports.not_a_report(PLAIN),
    }  # fmt: skip


EXPECTED = {"hard": "bounced", "delay": "active", "complain": "complained", "ooo": "active", "qmail": "bounced",
            "victim": "active", "quiet": "active"}  # fmt: skip
TALLY = {"processed": 6, "hard": 2, "soft": 2, "complaints": 1, "auto_replies": 1, "ignored": 0, "unmatched": 6,
         "seen_before": 0, "changed": 3}  # fmt: skip
UNCHANGED = {"processed": 0, "hard": 0, "soft": 0, "complaints": 0, "auto_replies": 0, "ignored": 0, "unmatched": 0,
             "seen_before": 0, "changed": 0}  # fmt: skip


def week_of(m: Mailed) -> str:
    return reports.message_id_of(m.messages["victim"]).split(".")[1]


def public_id(engine: Engine, address: str) -> str:
    with Session(engine) as session:
        return session.exec(select(Subscriber.public_id).where(Subscriber.email == address)).one()


def statuses(engine: Engine) -> dict[str, str]:
    with Session(engine) as session:
        return {s.email.split("@")[0]: s.status for s in session.exec(select(Subscriber))}


def history(engine: Engine) -> tuple[int, int]:
    with Session(engine) as session:
        return len(session.exec(select(Feedback)).all()), len(session.exec(select(Event)).all())


def make_maildir(root: Path) -> Path:
    for sub in ("new", "cur", "tmp"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    return root


def deliver_to_maildir(maildir: Path, messages: dict[str, bytes]) -> None:
    for n, raw in enumerate(messages.values()):
        (maildir / "new" / f"17964142{n:02d}.M1P1.mx").write_bytes(raw)


# -- the return path ------------------------------------------------------------------------------


def test_verp_return_path_names_one_delivery_in_any_letter_case(mailed: Mailed, engine: Engine) -> None:
    path = ReturnPath.of(mailed.config, Signer.from_keys([KEY]))
    sender = mailed.senders["hard"]
    local = sender.split("@")[0]
    assert sender.startswith("bounces+") and sender.endswith("@returns.test")
    assert len(local) < 64 and local == local.lower()
    assert len(set(mailed.senders.values())) == len(READERS), "one return path per reader"
    link = path.read(sender.upper())
    assert link is not None and link.public_id == public_id(engine, "hard@example.com")
    tampered = sender[:10] + ("a" if sender[10] != "a" else "b") + sender[11:]
    assert path.read(tampered) is None
    assert path.read(sender.replace("returns.test", "elsewhere.test")) is None
    assert ReturnPath.of(mailed.config, Signer.from_keys(["another key of at least thirty-two bytes!"])).read(
        sender) is None  # fmt: skip


def test_a_plain_return_path_is_the_envelope_sender(engine: Engine, issue_ready: Config) -> None:
    add_reader(engine, "ada@example.com")
    with smtp_server() as sink:
        assert run_week(engine, smtp_config(issue_ready, sink.port, return_path=PLAIN), SendOptions()).sent == 1
    assert sink.senders == {"ada@example.com": PLAIN}


@pytest.mark.parametrize(
    "value", ["bounces", "bounces+{token}{token}@example.com", "b@not a host", f"{'x' * 20}+{{token}}@example.com"]
)
def test_a_bad_return_path_is_one_line(tmp_path: Path, value: str) -> None:
    from digest.config import parse_sources

    with pytest.raises(ConfigError, match=r"delivery\.return_path") as caught:
        parse_sources(f"delivery:\n  return_path: '{value}'\n")
    assert "\n" not in str(caught.value)


# -- a Maildir ------------------------------------------------------------------------------------


def test_maildir_reports_change_only_the_right_readers_and_a_second_read_nothing(
    mailed: Mailed, engine: Engine, tmp_path: Path
) -> None:
    maildir = make_maildir(tmp_path / "bounces")
    deliver_to_maildir(maildir, the_reports(mailed, engine))
    tally = read_bounces(engine, mailed.config, MaildirBox(maildir))
    assert tally.to_json() == TALLY
    assert statuses(engine) == EXPECTED
    assert not list((maildir / "new").iterdir()), "every message is filed"
    filed = sorted(p.name.split(":2,")[1] for p in (maildir / "cur").iterdir())
    assert filed == ["F"] * 6 + ["S"] * 6, "understood ones marked seen, the rest flagged for review, none deleted"
    before = history(engine)
    assert read_bounces(engine, mailed.config, MaildirBox(maildir)).to_json() == UNCHANGED
    assert statuses(engine) == EXPECTED and history(engine) == before


def test_a_report_read_again_after_a_crash_changes_nothing(mailed: Mailed, engine: Engine, tmp_path: Path) -> None:
    maildir = make_maildir(tmp_path / "bounces")
    deliver_to_maildir(maildir, the_reports(mailed, engine))
    read_bounces(engine, mailed.config, MaildirBox(maildir))
    before = history(engine)
    for path in (maildir / "cur").iterdir():  # as if the run died after recording, before filing
        path.rename(maildir / "new" / path.name.split(":2,")[0])
    again = read_bounces(engine, mailed.config, MaildirBox(maildir))
    assert again.seen_before == 12 and again.processed == 0 and again.changed == 0
    assert history(engine) == before and statuses(engine) == EXPECTED


def test_soft_reports_count_once_per_issue(mailed: Mailed, engine: Engine, tmp_path: Path) -> None:
    two = smtp_config(mailed.config, 25, return_path=VERP, max_soft_failures=2)
    one = smtp_config(mailed.config, 25, return_path=VERP, max_soft_failures=1)
    delays = {k: v for k, v in the_reports(mailed, engine).items() if k.startswith("delay")}
    maildir = make_maildir(tmp_path / "a")
    deliver_to_maildir(maildir, delays)
    assert read_bounces(engine, two, MaildirBox(maildir)).soft == 2
    assert statuses(engine)["delay"] == "active", "two reports of one issue count once"
    again = make_maildir(tmp_path / "b")
    deliver_to_maildir(again, {"later": reports.postfix_dsn(mailed.senders["delay"], mailed.to("delay"),
                                                             mailed.messages["delay"], action="delayed", status="4.2.2")})  # fmt: skip
    assert read_bounces(engine, one, MaildirBox(again)).changed == 1
    assert statuses(engine)["delay"] == "bounced"
    with Session(engine) as session:
        event = session.exec(select(Event).where(Event.kind == "bounced")).one()
    assert event.method == "soft"


def test_with_a_plain_return_path_our_message_id_ties_a_bounce(engine: Engine, issue_ready: Config,
                                                              tmp_path: Path) -> None:  # fmt: skip
    add_reader(engine, "ada@example.com")
    add_reader(engine, "bob@example.com")
    with smtp_server() as sink:
        config = smtp_config(issue_ready, sink.port, return_path=PLAIN)
        run_week(engine, config, SendOptions())
    sent = dict(sink.messages)
    genuine = reports.message_id_of(sent["bob@example.com"])  # <digest.WEEK.PUBLICID.TAG@domain>
    head = genuine.split("@")[0].rsplit(".", 1)[0]  # <digest.WEEK.PUBLICID
    untagged = head + "@example.com>"  # the form before tags: all a link's public id gives
    wrong_tag = head + ".aaaaaaaaaaaaaaaa@example.com>"
    made_up = f"From: x <n@example.com>\r\nMessage-ID: {untagged}\r\nReferences: {wrong_tag}\r\n\r\n"
    maildir = make_maildir(tmp_path / "bounces")
    deliver_to_maildir(maildir, {
        "ada": reports.qmail_bounce(PLAIN, "ada@example.com", sent["ada@example.com"]),
        "bob, forged": reports.postfix_dsn(PLAIN, "bob@example.com", reports.stranger_headers("bob@example.com")),
        "bob, made-up ids": reports.postfix_dsn(PLAIN, "bob@example.com", made_up.encode()),
    })  # fmt: skip
    tally = read_bounces(engine, config, MaildirBox(maildir))
    assert (tally.hard, tally.unmatched) == (1, 2)
    assert statuses(engine) == {"ada": "bounced", "bob": "active"}


def test_a_permanent_refusal_about_us_is_not_a_bounce(mailed: Mailed, engine: Engine, tmp_path: Path) -> None:
    maildir = make_maildir(tmp_path / "bounces")
    deliver_to_maildir(maildir, {"policy": reports.postfix_dsn(
        mailed.senders["hard"], mailed.to("hard"), mailed.messages["hard"], status="5.7.1",
        diagnostic="smtp; 554 5.7.1 Service unavailable; client host blocked using a blocklist")})  # fmt: skip
    tally = read_bounces(engine, mailed.config, MaildirBox(maildir))
    assert (tally.ignored, tally.hard, tally.unmatched) == (1, 0, 0)
    assert statuses(engine)["hard"] == "active"


def test_stats_show_bounces_and_complaints_with_their_rates(mailed: Mailed, engine: Engine, tmp_path: Path) -> None:
    maildir = make_maildir(tmp_path / "bounces")
    deliver_to_maildir(maildir, the_reports(mailed, engine))
    read_bounces(engine, mailed.config, MaildirBox(maildir))
    (row,) = issue_stats(engine)
    shown = row.to_json()
    assert (shown["hard"], shown["soft"], shown["complaints"]) == (2, 1, 1)
    assert shown["complaint_rate"] == round(1 / len(READERS), 4) and shown["complaints_over_limit"] is True
    assert shown["hard_rate"] == round(2 / len(READERS), 4)


def test_cli_reads_a_maildir_and_prints_the_contract(mailed: Mailed, engine: Engine, tmp_path: Path,
                                                     env: dict[str, str]) -> None:  # fmt: skip
    maildir = make_maildir(tmp_path / "bounces")
    deliver_to_maildir(maildir, the_reports(mailed, engine))
    sources = mailed.config.settings.sources_path
    text = sources.read_text()
    sources.write_text(text.replace("delivery:\n", f"delivery:\n  return_path: '{VERP}'\n", 1))
    runner = CliRunner()
    cli_env = {**env, "DIGEST_SECRET_KEY": KEY, "DIGEST_SOURCES": str(sources)}
    result = runner.invoke(main, ["bounces", "--maildir", str(maildir), "--json"], env=cli_env)
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert {k: shown[k] for k in ("processed", "hard", "soft", "complaints", "auto_replies", "unmatched")} == {
        "processed": 6, "hard": 2, "soft": 2, "complaints": 1, "auto_replies": 1, "unmatched": 6}  # fmt: skip
    stats = runner.invoke(main, ["stats"], env=cli_env)
    assert stats.exit_code == 0 and "Bounces and complaints" in stats.stdout
    assert "Warning: complaints above 0.3%" in stats.stderr
    missing = runner.invoke(main, ["bounces", "--maildir", str(tmp_path / "nowhere")], env=cli_env)
    assert missing.exit_code != 0 and missing.stderr.startswith("Error: ") and "Traceback" not in missing.output
    assert len(missing.stderr.strip().splitlines()) == 1


# -- IMAP: a real dovecot -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def imap() -> Iterator[dovecot.Imap]:
    require_program("dovecot", "apt-get install dovecot-imapd")
    if not dovecot.available():
        pytest.skip("dovecot needs root to start here")
    with dovecot.dovecot_server() as server:
        yield server


def clear(imap: dovecot.Imap) -> None:
    box = ImapBox(parse_imap_url(imap.url()), "digest-processed", "digest-unmatched")
    for folder in ("INBOX", "digest-processed", "digest-unmatched"):
        typ, count = box.imap.select(f'"{folder}"')
        if typ == "OK" and int(count[0] or 0):
            box.imap.store("1:*", "+FLAGS.SILENT", r"(\Deleted)")
            box.imap.expunge()
    box.close()


def test_imap_reports_change_only_the_right_readers_and_a_second_read_nothing(
    mailed: Mailed, engine: Engine, imap: dovecot.Imap
) -> None:
    clear(imap)
    for raw in the_reports(mailed, engine).values():
        imap.append(raw)
    box = ImapBox(parse_imap_url(imap.url()), "digest-processed", "digest-unmatched")
    assert read_bounces(engine, mailed.config, box).to_json() == TALLY
    assert statuses(engine) == EXPECTED
    assert imap.messages("INBOX") == []
    assert len(imap.messages("digest-processed")) == 6 and len(imap.messages("digest-unmatched")) == 6
    before = history(engine)
    starttls = ImapBox(parse_imap_url(imap.url(starttls=True)), "digest-processed", "digest-unmatched")
    assert read_bounces(engine, mailed.config, starttls).to_json() == UNCHANGED
    assert statuses(engine) == EXPECTED and history(engine) == before


def test_imap_failures_are_one_line_without_the_password(imap: dovecot.Imap, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="refused the login") as refused:
        ImapBox(parse_imap_url(imap.url(password="wrong-password-123")), "p", "u")
    assert "wrong-password-123" not in str(refused.value) and imap.password not in str(refused.value)
    untrusted = imap.url().split("?")[0]
    with pytest.raises(InputError, match="TLS failed"):
        ImapBox(parse_imap_url(untrusted), "p", "u")
    closed = imap.url().replace(f":{imap.imaps_port}/", f":{free_closed_port()}/")
    with pytest.raises(InputError, match="cannot reach"):
        ImapBox(parse_imap_url(closed), "p", "u")
    with pytest.raises(ConfigError, match="in the clear"):
        parse_imap_url(f"imap://u:p@127.0.0.1:{imap.imap_port}/INBOX")
    with pytest.raises(InputError, match="no folder"):
        ImapBox(parse_imap_url(imap.url("Nowhere")), "p", "u")


def free_closed_port() -> int:
    from tests.smtpserver import free_port

    return free_port()


# -- a real Postfix makes the DSN ----------------------------------------------------------------


def test_postfix_bounces_a_nonexistent_user_and_digest_reads_its_dsn(engine: Engine, issue_ready: Config,
                                                                     tmp_path: Path) -> None:  # fmt: skip
    require_program("postfix", "apt-get install postfix")
    if not postfix.available():
        pytest.skip("postfix needs root to start here")
    add_reader(engine, f"nobody@{postfix.BOUNCE_DOMAIN}")
    add_reader(engine, f"nobody-else@{postfix.BOUNCE_DOMAIN}")
    with postfix.postfix_bouncer() as bouncer:
        config = smtp_config(issue_ready, bouncer.port, return_path=f"bounces+{{token}}@{postfix.RETURN_DOMAIN}")
        assert run_week(engine, config, SendOptions()).sent == 2, "accepted at RCPT: the bounce comes later"
        dsns = bouncer.wait_for_mail(2)
        copy = make_maildir(tmp_path / "bounces")
        for path in dsns:
            shutil.copy(path, copy / "new" / path.name)
    tally = read_bounces(engine, config, MaildirBox(copy))
    assert (tally.hard, tally.unmatched, tally.changed) == (2, 0, 2)
    assert set(statuses(engine).values()) == {"bounced"}


# -- from the scheduler ---------------------------------------------------------------------------


def test_the_scheduler_reads_the_mailbox_after_its_send(mailed: Mailed, engine: Engine, tmp_path: Path,
                                                        caplog: pytest.LogCaptureFixture) -> None:  # fmt: skip
    import threading
    from dataclasses import replace

    from digest.config import Bounces
    from digest.models import Issue
    from digest.schedule.scheduler import _attempt

    maildir = make_maildir(tmp_path / "bounces")
    deliver_to_maildir(maildir, {"hard": the_reports(mailed, engine)["hard"]})
    with Session(engine) as session:
        week = session.exec(select(Issue.week)).one()

    def scheduled(bounces: Bounces) -> Config:
        return replace(mailed.config, file=mailed.config.file.model_copy(update={"bounces": bounces}))

    _attempt(engine, scheduled(Bounces(maildir=str(maildir), after_send=False)), week, threading.Event())
    assert statuses(engine)["hard"] == "active", "after_send is off"
    with smtp_server() as sink:
        config = scheduled(Bounces(maildir=str(maildir), after_send=True))
        config = smtp_config(config, sink.port, return_path=VERP)
        assert _attempt(engine, config, week, threading.Event()) == "sent"
    assert statuses(engine)["hard"] == "bounced" and not list((maildir / "new").iterdir())
    broken = smtp_config(scheduled(Bounces(maildir=str(tmp_path / "gone"), after_send=True)), 25, return_path=VERP)
    assert _attempt(engine, broken, week, threading.Event()) == "sent", "a mailbox that fails never fails the run"
    assert any("reading the bounce mailbox after the send failed" in r.getMessage() for r in caplog.records)


def test_check_opens_the_bounce_mailbox(mailed: Mailed, tmp_path: Path, imap: dovecot.Imap) -> None:
    from dataclasses import replace

    from digest.check.run import run_checks
    from digest.config import Bounces

    def checked(bounces: Bounces) -> tuple[bool, str]:
        config = replace(mailed.config, file=mailed.config.file.model_copy(update={"bounces": bounces}))
        (result,) = run_checks(None, config, names=["bounces"])
        return result.ok, result.detail

    assert checked(Bounces()) == (True, "no bounce mailbox (bounces: in sources.yaml): bounces and complaints that "
                                        "arrive later are not read")  # fmt: skip
    ok, detail = checked(Bounces(maildir=str(make_maildir(tmp_path / "b"))))
    assert ok and "opens; a VERP return path" in detail
    assert checked(Bounces(maildir=str(tmp_path / "nowhere")))[0] is False
    assert checked(Bounces(imap=imap.url()))[0] is True
    ok, detail = checked(Bounces(imap=imap.url(password="not-the-password")))
    assert not ok and "refused the login" in detail and "not-the-password" not in detail


def test_a_hard_bounce_about_another_address_is_not_the_readers(mailed: Mailed, engine: Engine, tmp_path: Path) -> None:
    maildir = make_maildir(tmp_path / "bounces")
    deliver_to_maildir(maildir, {"forward": reports.postfix_dsn(mailed.senders["quiet"], "quiet-old@defunct.example",
                                                                mailed.messages["quiet"])})  # fmt: skip
    tally = read_bounces(engine, mailed.config, MaildirBox(maildir))
    assert (tally.hard, tally.ignored) == (0, 1) and statuses(engine)["quiet"] == "active"


def test_nul_bytes_and_odd_files_never_stop_the_rest(mailed: Mailed, engine: Engine, tmp_path: Path) -> None:
    import os

    maildir = make_maildir(tmp_path / "bounces")
    hard = reports.postfix_dsn(mailed.senders["hard"], mailed.to("hard"), mailed.messages["hard"])
    nul = reports.postfix_dsn(mailed.senders["qmail"], mailed.to("qmail"), mailed.messages["qmail"],
                              diagnostic="smtp; 550 5.1.1 gone\x00 RAW").replace(b"RAW", b"\xff\xfe")  # fmt: skip
    (maildir / "new" / "0-a-folder").mkdir()
    os.mkfifo(maildir / "new" / "1-a-pipe")
    (maildir / "new" / "2-a-link").symlink_to("/dev/zero")
    (maildir / "new" / "3-nul").write_bytes(nul.replace(b"Subject: Undelivered", b"Subject: \x00Undelivered"))
    (maildir / "new" / "4-hard").write_bytes(hard)
    tally = read_bounces(engine, mailed.config, MaildirBox(maildir))
    assert tally.hard == 2 and statuses(engine)["hard"] == statuses(engine)["qmail"] == "bounced"
    assert sorted(p.name for p in (maildir / "new").iterdir()) == ["0-a-folder", "1-a-pipe", "2-a-link"]
    with Session(engine) as session:
        assert all("\x00" not in f.detail for f in session.exec(select(Feedback)))
    linked = make_maildir(tmp_path / "linked")
    (linked / "cur").rmdir()
    (linked / "cur").symlink_to(tmp_path)
    with pytest.raises(InputError, match="not links"):
        MaildirBox(linked)
    with pytest.raises(InputError, match="no such folder"):
        MaildirBox(tmp_path / "nowhere")


def test_without_imap_move_only_the_report_is_expunged(mailed: Mailed, engine: Engine, imap: dovecot.Imap) -> None:
    clear(imap)
    imap.append(the_reports(mailed, engine)["hard"])
    imap.append(reports.not_a_report(PLAIN))
    person = ImapBox(parse_imap_url(imap.url()), "digest-processed", "digest-unmatched")
    person.imap.uid("STORE", person.imap.uid("SEARCH", None, "ALL")[1][0].split()[-1], "+FLAGS", r"(\Deleted)")
    person.close()  # a person marked their own mail deleted, and has not expunged it yet
    box = ImapBox(parse_imap_url(imap.url()), "digest-processed", "digest-unmatched")
    assert {"MOVE", "UIDPLUS"} <= box.capabilities, "dovecot offers both once logged in"
    box.capabilities = box.capabilities - {"MOVE"}
    tally = read_bounces(engine, mailed.config, box)
    assert (tally.hard, tally.unmatched) == (1, 0), "the message marked deleted is not read"
    assert len(imap.messages("INBOX")) == 1, "the person's message marked deleted is still there"
    assert len(imap.messages("digest-processed")) == 1
    imap.append(the_reports(mailed, engine)["complaint"])
    again = ImapBox(parse_imap_url(imap.url()), "digest-processed", "digest-unmatched")
    again.capabilities = again.capabilities - {"MOVE", "UIDPLUS"}
    assert read_bounces(engine, mailed.config, again).complaints == 1
    later = ImapBox(parse_imap_url(imap.url()), "digest-processed", "digest-unmatched")
    assert read_bounces(engine, mailed.config, later).to_json() == UNCHANGED, "copied and marked: not read again"


@pytest.mark.parametrize(("url", "message"), [
    ("imaps://u:p@[::1/INBOX", "not a valid IMAP URL"),
    ("imaps://u:p@127.0.0.1:99999/INBOX", "not a valid IMAP URL"),
    ("imaps://u@127.0.0.1/INBOX", "needs a user and a password"),
    ("imaps://u:p@127.0.0.1/INBOX?cafile=/nonexistent.pem", "not a readable PEM file"),
    ("imaps://u:p@127.0.0.1/INBOX?verify=no", "unknown IMAP URL option"),
])  # fmt: skip
def test_bad_imap_urls_are_one_line(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        ImapBox(parse_imap_url(url), "p", "u")
    assert "\n" not in str(caught.value)
