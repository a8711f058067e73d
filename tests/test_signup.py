"""Signing up at /subscribe through a real server: double opt-in, the same answer for every
address, a honeypot, and limits kept in the database (so they hold across processes)."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from digest import status
from digest.config import Config
from digest.db import open_database
from digest.models import Subscriber
from digest.serve import signup
from tests.conftest import KEY
from tests.helpers import add_reader
from tests.webserver import running

pytestmark = pytest.mark.dates


@pytest.fixture
def config(sample_config: Config, tmp_path: Path) -> Config:
    settings = replace(sample_config.settings, secret_keys=(KEY,), smtp_url=f"maildir:{tmp_path / 'box'}")
    return replace(sample_config, settings=settings)


def mails_to(config: Config, address: str) -> list[str]:
    box = Path(config.settings.smtp_url.removeprefix("maildir:")) / "new"
    texts = [f.read_text().replace("=\n", "") for f in sorted(box.iterdir())] if box.is_dir() else []
    return [t for t in texts if f"To: {address}" in t]


def reader(engine: Engine, address: str) -> Subscriber | None:
    with Session(engine) as session:
        found = session.exec(select(Subscriber).where(Subscriber.email == address)).first()
        if found is not None:
            session.expunge(found)
        return found


def test_a_person_signs_up_confirms_and_is_subscribed(engine: Engine, config: Config) -> None:
    with running(engine, config) as base, httpx.Client(base_url=base, follow_redirects=False) as client:
        form = client.get("/subscribe")
        answer = client.post("/subscribe", data={"email": "New.Person@Example.com", "name": "New Person",
                                                 "roles": ["technical product manager"], "audience": "jobs"})  # fmt: skip
        mailed = mails_to(config, "new.person@example.com")  # before the answer came, not after
        assert len(mailed) == 1, "the confirmation is mailed before the answer"
        token = re.search(r"/c/([A-Za-z0-9_-]+)", mailed[0])
        assert token
        pending = reader(engine, "new.person@example.com")
        confirmed = client.post(f"/c/{token.group(1)}", data={"confirm": "yes"})
    assert form.status_code == 200 and 'name="email"' in form.text and 'name="website"' in form.text
    assert answer.status_code == 200 and "Check your inbox" in answer.text
    assert pending is not None and pending.status == "pending"
    assert (pending.name, pending.roles, pending.audience) == ("New Person", ["technical product manager"], "jobs")
    assert confirmed.status_code == 200
    assert reader(engine, "new.person@example.com").status == "active"  # type: ignore[union-attr]


def test_the_answer_is_the_same_whoever_the_address_is(engine: Engine, config: Config) -> None:
    add_reader(engine, "active@example.com", "Active", roles=["product manager"])
    add_reader(engine, "pending@example.com", status="pending")
    gone = add_reader(engine, "gone@example.com", "Gone", roles=["product designer"])
    bounced = add_reader(engine, "bounced@example.com")
    with Session(engine) as session:
        for who, to in ((gone, status.Status.UNSUBSCRIBED), (bounced, status.Status.BOUNCED)):
            found = session.get(Subscriber, who.id)
            assert found is not None
            status.change(session, found, to, "operator")
        session.commit()
    addresses = ["fresh@example.com", "active@example.com", "pending@example.com", "gone@example.com",
                 "bounced@example.com"]  # fmt: skip
    with running(engine, config) as base, httpx.Client(base_url=base, follow_redirects=False) as client:
        answers = [client.post("/subscribe", data={"email": a, "roles": "growth"}) for a in addresses]
        confirm = re.search(r"/c/([A-Za-z0-9_-]+)", mails_to(config, "gone@example.com")[0])
        assert confirm
        client.post(f"/c/{confirm.group(1)}", data={"confirm": "yes"})
    assert {(a.status_code, a.text) for a in answers} == {(200, answers[0].text)}, "no enumeration"
    counts = {a: len(mails_to(config, a)) for a in addresses}
    assert counts == {"fresh@example.com": 1, "active@example.com": 0, "pending@example.com": 1,
                      "gone@example.com": 1, "bounced@example.com": 1}  # fmt: skip
    assert reader(engine, "active@example.com").roles == ["product manager"], "a form changes no active reader"  # type: ignore[union-attr]
    came_back = reader(engine, "gone@example.com")
    assert came_back is not None and came_back.status == "active", "confirming is fresh consent"
    assert came_back.roles == ["product designer"], "a suppressed reader's choices are not changed by a form"
    assert reader(engine, "bounced@example.com").status == "bounced", "until they click their own link"  # type: ignore[union-attr]


def test_bots_typos_and_floods_change_nothing(engine: Engine, config: Config, db_url: str) -> None:
    other_engine = open_database(db_url)  # a second digest serve (its own engine) on the same database
    try:
        with (
            running(engine, config) as one,
            running(other_engine, config) as two,
            httpx.Client(follow_redirects=False) as client,
        ):
            bot = client.post(f"{one}/subscribe", data={"email": "bot@example.com", "website": "http://spam"})
            typo = client.post(f"{one}/subscribe", data={"email": "not an address"})
            bad_roles = client.post(f"{one}/subscribe", data={"email": "x@example.com", "roles": "y" * 90})
            repeated = [client.post(f"{base}/subscribe", data={"email": "target@example.com"})
                        for base in (one, two, one, two, one, two)]  # fmt: skip
            flood = [client.post(f"{(one, two)[n % 2]}/subscribe", data={"email": f"f{n}@example.com"}).status_code
                     for n in range(signup.CLIENT_POSTS)]  # fmt: skip
    finally:
        other_engine.dispose()
    assert bot.status_code == 200 and "Check your inbox" in bot.text
    assert reader(engine, "bot@example.com") is None and not mails_to(config, "bot@example.com")
    assert typo.status_code == 400 and "such as name@example.com" in typo.text and 'value="not an address"' in typo.text
    assert bad_roles.status_code == 400 and reader(engine, "x@example.com") is None
    assert [r.status_code for r in repeated] == [200] * 6
    assert len(mails_to(config, "target@example.com")) == signup.ADDRESS_MAILS, "across both processes"
    allowed = signup.CLIENT_POSTS - len(repeated)  # the bot's and the typos' posts were never counted
    assert flood == [200] * allowed + [429] * (len(flood) - allowed), "one client, whichever process it reaches"
