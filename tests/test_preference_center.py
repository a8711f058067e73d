"""The reader's own pages: the preference center (/p/) and view in browser (/v/), reached from
a delivered message, through a real server and, for what a person sees, headless Chromium."""

from __future__ import annotations

import email
import email.policy
import json
import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest
import yaml
from sqlalchemy import Engine
from sqlmodel import Session, select

from digest.build.issue import build_issue, find_issue
from digest.config import Config, load_config
from digest.deliver import ledger
from digest.deliver.send import Hooks, SendOptions, send
from digest.models import Event, Job, Segment, Subscriber
from digest.preferences import Preferences
from digest.publicid import SAMPLE_PUBLIC_ID
from digest.timeutil import utcnow
from digest.tokens import Signer
from tests.browser import chromium
from tests.conftest import KEY, ROOT
from tests.helpers import add_reader, ingest_samples
from tests.smtpserver import free_port
from tests.webserver import running

pytestmark = pytest.mark.dates
ARTIFACTS = ROOT / "test-artifacts"
TPM = "technical product manager"


def configured(sample_config: Config, tmp_path: Path, base: str) -> Config:
    settings = replace(sample_config.settings, secret_keys=(KEY,), smtp_url=f"maildir:{tmp_path / 'box'}",
                       base_url=base)  # fmt: skip
    return replace(sample_config, settings=settings)


def mails_to(config: Config, address: str) -> list[Path]:
    box = Path(config.settings.smtp_url.removeprefix("maildir:")) / "new"
    return [f for f in sorted(box.iterdir()) if f"To: {address}" in f.read_text(errors="replace")]


def delivered(config: Config, address: str) -> EmailMessage:
    box = Path(config.settings.smtp_url.removeprefix("maildir:")) / "new"
    for path in sorted(box.iterdir()):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if address in str(message["To"]):
            assert isinstance(message, EmailMessage)
            return message
    raise AssertionError(f"no message to {address}")


def part(message: EmailMessage, kind: str) -> str:
    body = message.get_body((kind,))
    assert body is not None
    return str(body.get_content())  # type: ignore[attr-defined]


def reader(engine: Engine, address: str) -> Subscriber:
    with Session(engine) as session:
        found = session.exec(select(Subscriber).where(Subscriber.email == address)).one()
        session.expunge(found)
        return found


def link(text: str, path: str) -> str:
    found = re.search(rf"(https?://[^\s\"<>]+/{path}/[A-Za-z0-9_-]+)", text)
    assert found, f"no /{path}/ link"
    return found.group(1)


@pytest.fixture
def mailed(engine: Engine, sample_config: Config, tmp_path: Path) -> Iterator[tuple[Config, str, EmailMessage]]:
    """A built issue mailed to one product designer, with ``digest serve`` answering at the links' base."""
    port = free_port()
    config = configured(sample_config, tmp_path, f"http://127.0.0.1:{port}")
    with running(engine, config, port) as base:
        ingest_samples(engine, config)
        build_issue(engine, config)
        add_reader(engine, "grace@example.com", "Grace Hopper", roles=["product designer"], locations=["Berlin"])
        report = send(engine, config, find_issue(engine, None), SendOptions())
        assert report.sent == 1, report
        yield config, base, delivered(config, "grace@example.com")


@pytest.mark.browser
def test_a_reader_changes_their_roles_from_the_email_and_the_next_issue_follows(
    engine: Engine, mailed: tuple[Config, str, EmailMessage], tmp_path: Path
) -> None:
    config, _, message = mailed
    text, html = part(message, "plain"), part(message, "html")
    preferences_url = link(text, "p")
    assert preferences_url == link(html, "p"), "the same link in both parts"
    ARTIFACTS.mkdir(exist_ok=True)
    with chromium() as browser:
        page = browser.new_page()
        page.set_viewport_size({"width": 375, "height": 800})
        page.goto(preferences_url)
        assert page.get_by_label("Product designer", exact=True).is_checked()
        assert page.get_by_label("Cities or countries").input_value() == "Berlin"
        assert page.evaluate("document.documentElement.scrollWidth") <= 375, "no sideways scroll on a phone"
        page.screenshot(path=str(ARTIFACTS / "preferences-375.png"), full_page=True)
        page.get_by_label("Product designer", exact=True).uncheck()
        page.get_by_label("Technical product manager", exact=True).check()
        page.get_by_label("Remote only").check()
        page.get_by_role("button", name="Save my choices").click()
        page.wait_for_selector("text=Saved: your next issue follows these choices.")
        assert page.get_by_label("Technical product manager", exact=True).is_checked()
        page.set_viewport_size({"width": 1280, "height": 900})
        page.screenshot(path=str(ARTIFACTS / "preferences-1280.png"), full_page=True)
        page.goto(preferences_url)  # a fresh GET shows what was stored
        assert page.get_by_label("Technical product manager", exact=True).is_checked()
        assert not page.get_by_label("Product designer", exact=True).is_checked()
        assert page.get_by_label("Remote only").is_checked()
    grace = reader(engine, "grace@example.com")
    wanted = Preferences.of(roles=[TPM], locations=["berlin"], remote=True)
    assert (grace.roles, grace.remote, grace.segment_key) == ([TPM], True, wanted.key)
    with Session(engine) as session:
        events = session.exec(select(Event).where(Event.subscriber_id == grace.id, Event.kind == "preferences")).all()
    assert [(e.method, sorted(json.loads(e.detail))) for e in events] == [("page", ["remote", "roles"])]

    # the next week: a new posting arrives, the next build ranks Grace's new segment
    later = utcnow() + timedelta(days=7)
    feed = tmp_path / "samples" / "next-week.rss"
    feed.write_text(NEXT_WEEK_FEED, encoding="utf-8")
    sources = tmp_path / "sources.yaml"
    data = yaml.safe_load(sources.read_text())
    data["sources"].append({"name": "next-week", "kind": "jobs", "url": "samples/next-week.rss"})
    sources.write_text(yaml.safe_dump(data))
    next_config = replace(load_config({}, sources), settings=config.settings)
    ingest_samples(engine, next_config, now=later)
    report = build_issue(engine, next_config, now=later)
    assert report.status == "built", report
    with Session(engine) as session:
        segment = session.exec(select(Segment).where(Segment.key == wanted.key)).one()
    assert segment.issue_id == find_issue(engine, report.week).id, "a segment of the next issue"
    assert segment.preferences["roles"] == [TPM] and segment.picks, "the next issue ranks her new segment"
    assert segment.picks[0]["reasons"][0].startswith("Matches your roles: technical product manager")


@pytest.mark.browser
def test_a_readers_terms_are_shown_back_as_roles_and_topics(
    engine: Engine, mailed: tuple[Config, str, EmailMessage]
) -> None:
    """What a reader types is read as roles and topics, and the page says how, so they can fix it."""
    _, _, message = mailed
    with chromium() as browser:
        page = browser.new_page()
        page.set_viewport_size({"width": 375, "height": 800})
        page.goto(link(part(message, "plain"), "p"))
        assert page.locator("#read-as").inner_text() == "We read this as roles: product designer."
        page.get_by_label("Product designer", exact=True).uncheck()
        page.get_by_label("Other roles or topics").fill("TPM; api, platform; senior")
        page.get_by_role("button", name="Save my choices").click()
        page.wait_for_selector("text=Saved: your next issue follows these choices.")
        shown = page.locator("#read-as").inner_text()
        assert shown == "We read this as roles: technical product manager; topics: api, platform; level: senior."
        assert page.locator("#read-as").bounding_box()["width"] <= 375  # type: ignore[index]
        page.screenshot(path=str(ARTIFACTS / "preferences-read-as-375.png"), full_page=True)
        page.get_by_label("Other roles or topics").fill("fintech")
        page.get_by_role("button", name="Save my choices").click()
        page.wait_for_selector("text=Saved: your next issue follows these choices.")
        assert page.locator("#read-as").inner_text().startswith("We read this as topics: fintech, within product "
                                                               "manager, technical product manager")  # fmt: skip
    assert reader(engine, "grace@example.com").roles == ["fintech"]


NEXT_WEEK_FEED = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>Next week</title><link>https://jobs.example.com/</link><description>x</description>
<item><title>Senior Technical Product Manager, Observability APIs</title>
<link>https://jobs.example.com/next/0</link><guid>next-0</guid>
<description>Remote. Own the public metrics and tracing APIs.</description></item>
<item><title>Technical Product Manager, Identity Platform</title>
<link>https://jobs.example.com/next/1</link><guid>next-1</guid>
<description>Remote (EU). OAuth, SSO and the auth APIs.</description></item>
<item><title>Product Designer, Mobile</title>
<link>https://jobs.example.com/next/2</link><guid>next-2</guid>
<description>Berlin. Design the mobile app.</description></item>
<item><title>Staff Product Manager, Data Platform</title>
<link>https://jobs.example.com/next/3</link><guid>next-3</guid>
<description>Remote. The warehouse and its SQL APIs.</description></item>
</channel></rss>
"""


def test_view_in_browser_is_the_mailed_html(engine: Engine, mailed: tuple[Config, str, EmailMessage]) -> None:
    config, base, message = mailed
    html = part(message, "html")
    view_url = link(html, "v")
    assert view_url == link(part(message, "plain"), "v")
    grace = reader(engine, "grace@example.com")
    signer = Signer.from_keys(config.settings.secret_keys)
    issue_id = find_issue(engine, None).id or 0
    someone = add_reader(engine, "nobody-mailed@example.com")
    with httpx.Client(base_url=base, follow_redirects=False) as client:
        shown = client.get(view_url)
        head = client.head(view_url)
        not_mailed = client.get(f"/v/{signer.sign('view', someone.public_id, issue_id)}")
        other_purpose = client.get(f"/v/{signer.sign('preferences', grace.public_id, issue_id)}")
        test_copy = client.get(f"/v/{signer.sign('view', SAMPLE_PUBLIC_ID, issue_id)}")
    assert shown.status_code == 200 and shown.text == html, "byte for byte what the reader was mailed"
    assert shown.headers["content-security-policy"].startswith("default-src 'none'")
    assert head.status_code == 200
    assert not_mailed.status_code == 404 and "nobody-mailed" not in not_mailed.text
    assert other_purpose.status_code == 400
    assert test_copy.status_code == 200 and "test copy" in test_copy.text


def test_the_form_needs_its_own_fresh_token_and_good_values(
    engine: Engine, mailed: tuple[Config, str, EmailMessage]
) -> None:
    config, base, message = mailed
    url = link(part(message, "plain"), "p")
    other = add_reader(engine, "other@example.com", roles=["product manager"])
    signer = Signer.from_keys(config.settings.secret_keys)
    other_url = f"/p/{signer.sign('preferences', other.public_id, find_issue(engine, None).id or 0)}"
    with httpx.Client(base_url=base, follow_redirects=False) as client:
        form = client.get(url)
        csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert form.status_code == 200 and csrf and "grace@example.com" in form.text
        token = csrf.group(1)
        no_token = client.post(url, data={"roles": "growth"})
        stale = client.post(url, data={"roles": "growth", "csrf": signer.form_token(url.rsplit("/", 1)[1], 0)})
        borrowed = client.post(other_url, data={"roles": "growth", "csrf": token})
        bad = client.post(url, data={"csrf": token, "roles": ["product designer", "x" * 81], "seniority": "wizard",
                                     "pause_weeks": "99", "audience": "everyone", "remote": "maybe",
                                     "locations": "<b>Berlin</b>"})  # fmt: skip
        head = client.head(url)
    for answer in (no_token, stale, borrowed):
        assert answer.status_code == 400 and "nothing was saved" in answer.text
    assert bad.status_code == 400 and "Nothing was saved" in bad.text
    for error in ("at most 80 characters", "Choose a level from the list: junior, mid, senior, staff, principal or "
                  "director.", "A number of weeks from 0 to 52.",
                  "Choose jobs, people, or both.", "Choose one of the three."):  # fmt: skip
        assert error in bad.text, error
    assert 'aria-invalid="true" aria-describedby="seniority-error"' in bad.text
    assert 'value="&lt;b&gt;Berlin&lt;/b&gt;"' in bad.text, "what was typed is shown back, escaped"
    assert head.status_code == 200
    assert reader(engine, "grace@example.com").roles == ["product designer"], "nothing saved by any of them"
    assert reader(engine, "other@example.com").roles == ["product manager"]
    with Session(engine) as session:
        assert not session.exec(select(Event).where(Event.kind == "preferences")).all()


def test_a_pause_skips_the_issues_until_it_ends(engine: Engine, mailed: tuple[Config, str, EmailMessage]) -> None:
    config, base, _ = mailed
    issue = find_issue(engine, None).id or 0
    resting = add_reader(engine, "resting@example.com", "Resting Reader", roles=["product designer"])
    add_reader(engine, "fresh@example.com")
    url = f"/p/{Signer.from_keys(config.settings.secret_keys).sign('preferences', resting.public_id, issue)}"
    with httpx.Client(base_url=base, follow_redirects=False) as client:
        token = re.search(r'name="csrf" value="([^"]+)"', client.get(url).text).group(1)  # type: ignore[union-attr]
        saved = client.post(url, data={"csrf": token, "pause_weeks": "2"})
        again = client.get(url)
    assert saved.status_code == 200 and "No email until" in saved.text
    assert "Paused until" in again.text and "End the pause now" in again.text
    rested = reader(engine, "resting@example.com")
    assert rested.paused_until is not None and rested.status == "active", "a pause is a preference, not a status"
    assert (rested.roles, rested.name) == (["product designer"], "Resting Reader"), "fields not posted stay as they are"
    ends = rested.paused_until
    said: list[str] = []
    report = send(engine, config, find_issue(engine, None), SendOptions(), Hooks(log=said.append))
    assert report.sent == 1 and mails_to(config, "resting@example.com") == [], "the fresh reader only"
    assert "1 reader(s) pause this week (they chose to on their page): not mailed this issue." in said
    ledger.enqueue(engine, issue, now=ends + timedelta(hours=1))
    assert ledger.counts(engine, issue)["queued"] == 1, "the pause is over: queued again"
    with Session(engine) as session:
        events = session.exec(select(Event).where(Event.kind == "preferences")).all()
    assert len(events) == 1 and json.loads(events[0].detail).keys() == {"paused_until"}


def test_an_unsubscribed_reader_sees_so_and_saving_does_not_bring_them_back(
    engine: Engine, mailed: tuple[Config, str, EmailMessage]
) -> None:
    _, base, message = mailed
    url = link(part(message, "plain"), "p")
    unsubscribe = link(part(message, "plain"), "u")
    with httpx.Client(base_url=base, follow_redirects=False) as client:
        client.post(unsubscribe, data={"List-Unsubscribe": "One-Click"})
        shown = client.get(url)
        token = re.search(r'name="csrf" value="([^"]+)"', shown.text).group(1)  # type: ignore[union-attr]
        saved = client.post(url, data={"csrf": token, "roles": TPM})
    assert "You are unsubscribed" in shown.text and 'href="/r/' in shown.text
    assert saved.status_code == 200
    grace = reader(engine, "grace@example.com")
    assert grace.status == "unsubscribed" and grace.roles == [TPM]


def test_a_change_during_a_send_takes_effect_from_the_next_issue(
    engine: Engine, mailed: tuple[Config, str, EmailMessage]
) -> None:
    """Queued as a product manager, changed to designer before their message goes out: this
    issue still comes as queued, and view in browser shows exactly that message."""
    config, base, _ = mailed
    issue = find_issue(engine, None)
    late = add_reader(engine, "late@example.com", "Late Reader", roles=["product manager"])
    queued_key = Preferences.of(roles=["product manager"]).key
    assert send(engine, config, issue, SendOptions(limit=0)).sent == 0  # queued, nothing sent yet
    signer = Signer.from_keys(config.settings.secret_keys)
    url = f"/p/{signer.sign('preferences', late.public_id, issue.id or 0)}"
    with httpx.Client(base_url=base, follow_redirects=False) as client:
        token = re.search(r'name="csrf" value="([^"]+)"', client.get(url).text).group(1)  # type: ignore[union-attr]
        assert client.post(url, data={"csrf": token, "roles": "product designer"}).status_code == 200
        assert reader(engine, "late@example.com").segment_key != queued_key
        assert send(engine, config, issue, SendOptions()).sent == 1
        message = delivered(config, "late@example.com")
        shown = client.get(link(part(message, "html"), "v"))
    assert "Why: Matches your roles: product manager" in part(message, "plain")
    assert shown.status_code == 200 and shown.text == part(message, "html")


def test_the_archive_shows_sent_issues_without_any_readers_data(
    engine: Engine, mailed: tuple[Config, str, EmailMessage]
) -> None:
    import feedparser

    config, base, _ = mailed
    week = find_issue(engine, None).week
    unsent = build_issue(engine, config, now=utcnow() + timedelta(days=7)).week  # built, never sent
    with Session(engine) as session:
        segments = len(session.exec(select(Segment)).all())
        for job in session.exec(select(Job)).all():
            job.title += " \x08\x1b"  # a control character a feed slipped in must not break the Atom feed
            session.add(job)
        session.commit()
    with httpx.Client(base_url=base, follow_redirects=False) as client:
        index, issue = client.get("/archive/"), client.get(f"/archive/{week}")
        atom, feed = client.get("/archive/feed.xml"), client.get("/archive/feed.json")
        missing = [client.get(path).status_code for path in ("/archive/2026-W01", "/archive/%3Cscript%3E",
                                                              "/archive/2026-W99", "/archive/feed.rss")]  # fmt: skip
    assert index.status_code == 200 and f'href="/archive/{week}"' in index.text
    assert unsent != week and unsent not in index.text, "only issues that went to someone"
    assert issue.status_code == 200 and "Top jobs" in issue.text
    for page in (issue.text, atom.text, feed.text):
        for private in ("grace@example.com", "Hopper", "/u/", "/p/", "/v/", "Why:"):
            assert private not in page, private
    parsed = feedparser.parse(atom.content)
    assert not parsed.bozo and [e.link for e in parsed.entries] == [f"{base}/archive/{week}"]
    assert atom.headers["content-type"].startswith("application/atom+xml")
    data = feed.json()
    assert data["version"] == "https://jsonfeed.org/version/1.1" and data["items"][0]["url"] == f"{base}/archive/{week}"
    assert "<li>" in data["items"][0]["content_html"]
    assert missing == [404, 404, 404, 404]
    with Session(engine) as session:
        assert len(session.exec(select(Segment)).all()) == segments, "reading the archive stores nothing"

    closed = replace(
        config,
        file=config.file.model_copy(update={"newsletter": config.newsletter.model_copy(update={"archive": False})}),
    )
    with running(engine, closed) as other, httpx.Client(base_url=other) as client:
        assert client.get("/archive/").status_code == client.get("/archive/feed.xml").status_code == 404


def test_odd_input_is_a_clear_400_and_saves_nothing(engine: Engine, mailed: tuple[Config, str, EmailMessage]) -> None:
    config, base, message = mailed
    url = link(part(message, "plain"), "p")
    signer = Signer.from_keys(config.settings.secret_keys)
    with httpx.Client(base_url=base, follow_redirects=False) as client:
        page = client.get(url)
        token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
        mac = token.partition(".")[2]
        odd_tokens = [client.post(url, data={"csrf": f"{stamp}.{mac}", "roles": "growth"}).status_code
                      for stamp in ("²", "9" * 5000, "-1", "")]  # fmt: skip
        odd_pauses = [client.post(url, data={"csrf": token, "pause_weeks": weeks}) for weeks in ("²", "٣", "9" * 5000)]
        escapes = client.post(url, data={"csrf": token, "name": "Lin \x1b]0;pwn\x07 Wei"})
        bidi = client.post(url, data={"csrf": token, "locations": "Berlin\u202e"})
        upload = client.post(url, data={"csrf": token}, files={"name": ("evil.txt", b"hello", "text/plain")})
        stale = client.post(url, data={"csrf": signer.form_token(url.rsplit("/", 1)[1], 0), "roles": "growth"})
    assert page.headers["x-robots-tag"] == "noindex, nofollow"
    assert odd_tokens == [400, 400, 400, 400]
    for answer in odd_pauses:
        assert answer.status_code == 400 and "A number of weeks from 0 to 52." in answer.text
    for answer in (escapes, bidi, upload):
        assert answer.status_code == 400 and "without control characters" in answer.text
    assert stale.status_code == 400 and 'value="growth"' in stale.text, "what they typed is kept for another try"
    grace = reader(engine, "grace@example.com")
    assert (grace.name, grace.locations, grace.paused_until) == ("Grace Hopper", ["Berlin"], None)
