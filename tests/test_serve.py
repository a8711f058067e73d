"""digest serve through a real server: one-click POST, the GET page, forged tokens, stats."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from digest.build.issue import build_issue, find_issue
from digest.config import Config
from digest.deliver.stats import issue_stats
from digest.models import Event, Subscriber
from digest.tokens import Signer
from tests.browser import chromium
from tests.conftest import KEY
from tests.helpers import add_reader, ingest_samples
from tests.webserver import running

pytestmark = pytest.mark.dates


@pytest.fixture
def site(engine: Engine, sample_config: Config, tmp_path: Path) -> tuple[Config, int, list[Subscriber]]:
    settings = replace(sample_config.settings, secret_keys=(KEY, "old-key"), smtp_url=f"maildir:{tmp_path / 'box'}")
    config = replace(sample_config, settings=settings)
    ingest_samples(engine, config)
    build_issue(engine, config)
    issue = find_issue(engine, None)
    readers = [add_reader(engine, f"r{i}@example.com", f"Reader {i}") for i in range(4)]
    return config, issue.id or 0, readers


def status(engine: Engine, subscriber: Subscriber) -> str:
    with Session(engine) as session:
        found = session.get(Subscriber, subscriber.id)
        return found.status if found else "gone"


def test_one_click_post_in_both_encodings(engine: Engine, site: tuple[Config, int, list[Subscriber]]) -> None:
    config, issue_id, readers = site
    signer = Signer.from_keys(config.settings.secret_keys)
    with running(engine, config) as base, httpx.Client(base_url=base, follow_redirects=False) as client:
        form = client.post(f"/u/{signer.sign('unsubscribe', readers[0].public_id, issue_id)}",
                           data={"List-Unsubscribe": "One-Click"})  # fmt: skip
        multipart = client.post(f"/u/{signer.sign('unsubscribe', readers[1].public_id, issue_id)}",
                                files={"List-Unsubscribe": (None, "One-Click")})  # fmt: skip
        again = client.post(f"/u/{signer.sign('unsubscribe', readers[0].public_id, issue_id)}",
                            data={"List-Unsubscribe": "One-Click"})  # fmt: skip
    assert (form.status_code, multipart.status_code, again.status_code) == (200, 200, 200)
    assert "set-cookie" not in form.headers and "location" not in form.headers
    assert status(engine, readers[0]) == status(engine, readers[1]) == "unsubscribed"
    with Session(engine) as session:
        events = session.exec(select(Event).where(Event.kind == "unsubscribed")).all()
    assert sorted((e.method, e.issue_id) for e in events) == [("one-click", issue_id)] * 2
    stats = {s.week: s for s in issue_stats(engine)}
    assert stats[find_issue(engine, None).week].unsubscribed == 2


def test_get_never_unsubscribes_and_bad_tokens_change_nothing(
    engine: Engine, site: tuple[Config, int, list[Subscriber]]
) -> None:
    config, issue_id, readers = site
    signer = Signer.from_keys(config.settings.secret_keys)
    old_key = Signer((b"old-key",))  # a short key from before: it only verifies
    good = signer.sign("unsubscribe", readers[2].public_id, issue_id)
    with running(engine, config) as base, httpx.Client(base_url=base, follow_redirects=False) as client:
        page = client.get(f"/u/{good}")
        forged = client.post("/u/" + good[:-4] + "AAAA", data={"List-Unsubscribe": "One-Click"})
        wrong_purpose = client.post(f"/u/{signer.sign('resubscribe', readers[2].public_id, issue_id)}")
        garbage = client.post("/u/%3Cscript%3E", data={"List-Unsubscribe": "One-Click"})
        huge = client.post(
            f"/u/{good}", content=b"x" * 100_000, headers={"Content-Type": "application/x-www-form-urlencoded"}
        )
        rotated = client.post(
            f"/u/{old_key.sign('unsubscribe', readers[3].public_id, issue_id)}", data={"confirm": "yes"}
        )
        health = client.get("/health")
    assert page.status_code == 200 and '<form method="post">' in page.text and "r2@example.com" not in page.text
    assert page.headers["content-security-policy"].startswith("default-src 'none'")
    assert page.headers["x-content-type-options"] == "nosniff" and page.headers["cache-control"] == "no-store"
    assert status(engine, readers[2]) == "active", "GET and forged or damaged tokens change nothing"
    assert (forged.status_code, wrong_purpose.status_code, garbage.status_code, huge.status_code) == (
        400,
        400,
        400,
        413,
    )
    assert "Traceback" not in forged.text + garbage.text
    assert rotated.status_code == 200 and status(engine, readers[3]) == "unsubscribed", "old keys still verify"
    with Session(engine) as session:
        event = session.exec(select(Event).where(Event.subscriber_id == readers[3].id)).one()
    assert event.method == "link"
    assert health.json() == {"status": "ok"}


@pytest.mark.browser
def test_the_unsubscribe_page_clicked_in_a_browser(engine: Engine, site: tuple[Config, int, list[Subscriber]]) -> None:
    config, issue_id, readers = site
    token = Signer.from_keys(config.settings.secret_keys).sign("unsubscribe", readers[0].public_id, issue_id)
    with running(engine, config) as base, chromium() as browser:
        page = browser.new_page()
        page.goto(f"{base}/u/{token}")
        assert status(engine, readers[0]) == "active"
        page.get_by_role("button", name="Unsubscribe").click()
        page.wait_for_selector("text=You are unsubscribed")
        assert status(engine, readers[0]) == "unsubscribed"
        page.get_by_role("link", name="Resubscribe").click()
        page.get_by_role("button", name="Resubscribe").click()
        page.wait_for_selector("text=Check your inbox")
        assert status(engine, readers[0]) == "unsubscribed", "asking to come back is not coming back"
        page.goto(f"{base}/c/{confirmation_token(config, readers[0].email)}")
        page.get_by_role("button", name="Confirm").click()
        page.wait_for_selector("text=you are subscribed")
    assert status(engine, readers[0]) == "active"


def confirmation_token(config: Config, address: str, wait: float = 5.0) -> str:
    """The /c/ token in the newest confirmation mail to ``address`` in the test's Maildir."""
    import time

    box = Path(config.settings.smtp_url.removeprefix("maildir:")) / "new"
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        mails = sorted(box.iterdir(), key=lambda f: f.stat().st_mtime) if box.is_dir() else []
        for mail in reversed(mails):
            text = mail.read_text().replace("=\n", "")
            found = re.search(r"/c/([A-Za-z0-9_-]+)", text)
            if found and f"To: {address}" in text:
                return found.group(1)
        time.sleep(0.05)
    raise AssertionError(f"no confirmation mail to {address}")


def test_double_opt_in(engine: Engine, sample_config: Config, tmp_path: Path) -> None:
    from digest.deliver.confirmation import send_confirmation
    from digest.deliver.send import SendOptions
    from digest.subscribers import add
    from digest.week import run_week

    box = tmp_path / "box"
    config = replace(
        sample_config, settings=replace(sample_config.settings, smtp_url=f"maildir:{box}", secret_keys=(KEY,))
    )
    ingest_samples(engine, config)
    build_issue(engine, config)
    subscriber, _ = add(engine, "new@example.com", pending=True)
    send_confirmation(engine, config, subscriber)
    mail = next((box / "new").iterdir()).read_text()
    token = re.search(r"/c/([A-Za-z0-9_-]+)", mail.replace("=\n", ""))
    assert token and status(engine, subscriber) == "pending"
    assert run_week(engine, config, SendOptions()).sent == 0, "unconfirmed readers are never sent the digest"
    with running(engine, config) as base, httpx.Client(base_url=base) as client:
        assert client.get(f"/c/{token.group(1)}").status_code == 200 and status(engine, subscriber) == "pending"
        assert client.post(f"/c/{token.group(1)}", data={"confirm": "yes"}).status_code == 200
    assert status(engine, subscriber) == "active"
    assert run_week(engine, config, SendOptions()).sent == 1


def test_a_taken_port_is_one_error_line(tmp_path: Path, env: dict[str, str]) -> None:
    import shutil
    import socket
    import subprocess
    import sys

    from tests.conftest import ROOT

    shutil.copy(ROOT / "sources.yaml", tmp_path)
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = subprocess.run([sys.executable, "-m", "digest", "serve", "--port", str(port)], cwd=tmp_path,
                                env={**env, "PATH": "/usr/bin:/bin"}, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: cannot listen on 127.0.0.1:{port}: ")
