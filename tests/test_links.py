"""Links act on their own reader, and only on purpose: through a real `digest serve` app,
HEAD with genuine tokens changes nothing, a forgotten reader's link acts on nobody, links
follow their reader across export and import, and only the mailbox owner comes back."""

from __future__ import annotations

import struct
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from digest.build.issue import build_issue, find_issue
from digest.config import Config
from digest.db import open_database, session_scope
from digest.models import Event, Setting, Subscriber
from digest.serve.links import LEGACY_LINKS
from digest.subscribers import export_rows, forget, import_file
from digest.timeutil import utcnow
from digest.tokens import Signer
from tests.conftest import KEY
from tests.helpers import add_reader, ingest_samples
from tests.test_serve import confirmation_token
from tests.webserver import running

pytestmark = pytest.mark.dates


@pytest.fixture
def site(engine: Engine, sample_config: Config, tmp_path: Path) -> tuple[Config, Signer, int]:
    settings = replace(sample_config.settings, secret_keys=(KEY,), smtp_url=f"maildir:{tmp_path / 'box'}")
    config = replace(sample_config, settings=settings)
    ingest_samples(engine, config)
    build_issue(engine, config)
    return config, Signer.from_keys([KEY]), find_issue(engine, None).id or 0


def status_of(engine: Engine, email: str) -> str:
    with Session(engine) as session:
        found = session.exec(select(Subscriber).where(Subscriber.email == email)).first()
        return found.status if found else "gone"


def mails(config: Config) -> int:
    box = Path(config.settings.smtp_url.removeprefix("maildir:")) / "new"
    return len(list(box.iterdir())) if box.is_dir() else 0


def test_head_with_genuine_tokens_changes_nothing(engine: Engine, site: tuple[Config, Signer, int]) -> None:
    """Link scanners send HEAD: Starlette answers it with the GET route, which only shows a page."""
    config, signer, issue = site
    active = add_reader(engine, "active@example.com")
    pending = add_reader(engine, "pending@example.com", status="pending")
    gone = add_reader(engine, "gone@example.com", status="unsubscribed")
    with running(engine, config) as base, httpx.Client(base_url=base) as client:
        answers = [
            client.head(f"/u/{signer.sign('unsubscribe', active.public_id, issue)}"),
            client.head(f"/c/{signer.sign('confirm', pending.public_id)}"),
            client.head(f"/r/{signer.sign('resubscribe', gone.public_id, issue)}"),
            client.get(f"/u/{signer.sign('unsubscribe', active.public_id, issue)}"),
            client.get(f"/c/{signer.sign('confirm', pending.public_id)}"),
            client.get(f"/r/{signer.sign('resubscribe', gone.public_id, issue)}"),
        ]
    assert [a.status_code for a in answers] == [200] * 6
    assert [status_of(engine, r.email) for r in (active, pending, gone)] == ["active", "pending", "unsubscribed"]
    assert mails(config) == 0, "no confirmation mail either"
    with Session(engine) as session:
        assert session.exec(select(Event)).all() == []


def test_a_forgotten_readers_link_acts_on_nobody(engine: Engine, site: tuple[Config, Signer, int]) -> None:
    """On SQLite the next reader takes the forgotten reader's row id; the old link must not follow it."""
    config, signer, issue = site
    add_reader(engine, "first@example.com")
    leaving = add_reader(engine, "leaving@example.com")
    token = signer.sign("unsubscribe", leaving.public_id, issue)
    forget(engine, leaving.email)
    newcomer = add_reader(engine, "newcomer@example.com")
    with running(engine, config) as base, httpx.Client(base_url=base) as client:
        answer = client.post(f"/u/{token}", data={"List-Unsubscribe": "One-Click"})
    assert answer.status_code == 200 and "Resubscribe" not in answer.text
    assert status_of(engine, newcomer.email) == "active" and status_of(engine, "first@example.com") == "active"
    if engine.dialect.name == "sqlite":
        assert newcomer.id == leaving.id, "the row id was indeed reused"


def test_links_follow_their_reader_through_export_and_import(
    engine: Engine, site: tuple[Config, Signer, int], tmp_path: Path
) -> None:
    """Reader 20's link, exported and imported into a database whose row ids differ, still
    unsubscribes reader 20 and nobody else (reader 21 was the victim before public ids)."""
    config, signer, _ = site
    for n in range(1, 23):
        add_reader(engine, f"reader{n}@example.com")
    (tmp_path / "list.jsonl").write_text("".join(export_rows(engine, "jsonl")), encoding="utf-8")
    with session_scope(engine) as session:
        reader20 = session.exec(select(Subscriber).where(Subscriber.email == "reader20@example.com")).one()
    moved_url = f"sqlite:///{tmp_path / 'moved.db'}"
    moved = open_database(moved_url)
    add_reader(moved, "already-here@example.com")  # shifts every row id by one
    assert import_file(moved, tmp_path / "list.jsonl").added == 22
    token = signer.sign("unsubscribe", reader20.public_id, 0)
    with running(moved, config) as base, httpx.Client(base_url=base) as client:
        assert client.post(f"/u/{token}", data={"List-Unsubscribe": "One-Click"}).status_code == 200
    assert status_of(moved, "reader20@example.com") == "unsubscribed"
    assert status_of(moved, "reader21@example.com") == "active" and status_of(moved, "reader19@example.com") == "active"
    moved.dispose()


def test_only_the_mailbox_owner_can_come_back(engine: Engine, site: tuple[Config, Signer, int]) -> None:
    """Whoever holds an unsubscribe link (a forwarded email) gets a /r/ link; an empty cross-site
    POST to it mails a confirmation link to the address, and changes nothing else."""
    config, signer, issue = site
    reader = add_reader(engine, "owner@example.com")
    with running(engine, config) as base, httpx.Client(base_url=base) as client:
        unsubscribed = client.post(f"/u/{signer.sign('unsubscribe', reader.public_id, issue)}")
        back = unsubscribed.text.split('href="/r/')[1].split('"')[0]
        forged = client.post(f"/r/{back}", headers={"Origin": "https://evil.example"})
        assert forged.status_code == 200 and "Check your inbox" in forged.text
        assert status_of(engine, reader.email) == "unsubscribed", "asking to come back is not coming back"
        token = confirmation_token(config, reader.email)
        again = client.post(f"/r/{back}")
        confirmed = client.post(f"/c/{token}")
    assert again.status_code == 200 and mails(config) == 1, "at most one confirmation mail an hour"
    assert confirmed.status_code == 200 and status_of(engine, reader.email) == "active"
    with Session(engine) as session:
        kinds = [e.kind for e in session.exec(select(Event).where(Event.subscriber_id == reader.id))]
    assert kinds == ["unsubscribed", "asked_to_return", "resubscribed"]


def legacy_token(signer: Signer, row_id: int, issue_id: int) -> str:
    """A link as digest mailed it before public ids: the row id, signed."""
    import base64

    packed = struct.pack(">QQ", row_id, issue_id)
    return base64.urlsafe_b64encode(packed + signer._mac(signer.keys[0], "unsubscribe", packed)).decode().rstrip("=")


def test_links_mailed_before_public_ids_act_only_on_readers_of_that_time(
    engine: Engine, site: tuple[Config, Signer, int]
) -> None:
    config, signer, issue = site
    old = add_reader(engine, "old@example.com")
    with session_scope(engine) as session:  # the upgrade to public ids happened after old joined
        session.merge(Setting(key=LEGACY_LINKS, value=(utcnow() + timedelta(seconds=1)).isoformat()))
    newcomer = add_reader(engine, "new@example.com")
    with session_scope(engine) as session:
        found = session.get(Subscriber, newcomer.id)
        assert found is not None
        found.created_at = utcnow() + timedelta(seconds=5)
    with running(engine, config) as base, httpx.Client(base_url=base) as client:
        for reader in (old, newcomer):
            client.post(f"/u/{legacy_token(signer, reader.id or 0, issue)}", data={"List-Unsubscribe": "One-Click"})
    assert status_of(engine, old.email) == "unsubscribed", "an old email's link still unsubscribes its reader"
    assert status_of(engine, newcomer.email) == "active", "but never someone who came after"


def test_a_confirmation_link_answers_its_own_request_only(engine: Engine, site: tuple[Config, Signer, int]) -> None:
    """An old double opt-in link, or the link of an earlier request, never brings back a
    reader who has unsubscribed since; the link of the latest request does, for a week; a
    bounced or complained reader does not come back by a link at all."""
    from digest.serve.links import ask_to_return, confirm
    from digest.subscribers import remove
    from digest.tokens import Link

    _, _, issue = site
    reader = add_reader(engine, "back@example.com", status="pending")
    assert confirm(engine, Link(reader.public_id, 0)), "a double opt-in link confirms a pending reader"
    remove(engine, reader.email)
    assert not confirm(engine, Link(reader.public_id, 0)), "the old opt-in link is no consent to come back"
    now = utcnow()
    first = ask_to_return(engine, Link(reader.public_id, issue), now)
    assert first is not None and ask_to_return(engine, Link(reader.public_id, issue), now) is None
    second = ask_to_return(engine, Link(reader.public_id, issue), now + timedelta(hours=2))
    assert second is not None
    assert not confirm(engine, Link(reader.public_id, first[1]), now + timedelta(hours=2)), "superseded"
    assert not confirm(engine, Link(reader.public_id, second[1]), now + timedelta(days=8)), "expired"
    assert confirm(engine, Link(reader.public_id, second[1]), now + timedelta(hours=3))
    assert status_of(engine, reader.email) == "active"
    for suppressed in ("bounced", "complained"):
        other = add_reader(engine, f"{suppressed}@example.com", status=suppressed)
        assert not confirm(engine, Link(other.public_id, 0)) and status_of(engine, other.email) == suppressed


def test_requests_to_come_back_at_the_same_moment_mail_once(engine: Engine, site: tuple[Config, Signer, int]) -> None:
    import threading

    from digest.serve.links import ask_to_return
    from digest.tokens import Link

    reader = add_reader(engine, "burst@example.com", status="unsubscribed")
    answers: list[object] = []
    start = threading.Barrier(8)

    def ask() -> None:
        start.wait()
        try:
            answers.append(ask_to_return(engine, Link(reader.public_id, 0)))
        except Exception as exc:  # a locked database is a 503 in serve: it mails nobody
            answers.append(type(exc).__name__)

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    granted = [a for a in answers if isinstance(a, tuple)]
    assert len(granted) == 1, answers


def test_a_one_click_post_with_a_body_that_cannot_be_parsed_still_unsubscribes(
    engine: Engine, site: tuple[Config, Signer, int]
) -> None:
    config, signer, issue = site
    readers = [add_reader(engine, f"odd{n}@example.com") for n in range(3)]
    bodies = [
        (b"--xyz\r\nbroken", "multipart/form-data"),  # no boundary
        (b"garbage", "multipart/form-data; boundary=xyz"),
        (b"&".join(b"k%d=v" % n for n in range(1500)), "application/x-www-form-urlencoded"),  # over 1,000 fields
    ]
    with running(engine, config) as base, httpx.Client(base_url=base) as client:
        answers = [client.post(f"/u/{signer.sign('unsubscribe', r.public_id, issue)}", content=body,
                               headers={"Content-Type": kind}) for r, (body, kind) in zip(readers, bodies, strict=True)]  # fmt: skip
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert [status_of(engine, r.email) for r in readers] == ["unsubscribed"] * 3
