"""The rendered email in a real browser at 600 px and 375 px: no sideways scrolling, every
section visible. Screenshots are kept in test-artifacts/."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from digest.build.issue import build_issue, find_issue
from digest.config import Config
from digest.render.compose import Composer
from tests.browser import chromium
from tests.conftest import ROOT
from tests.helpers import add_reader, ingest_samples

pytestmark = pytest.mark.browser
ARTIFACTS = ROOT / "test-artifacts"
MONDAY = datetime(2026, 11, 23, 9, tzinfo=UTC)


def test_email_reads_at_600_and_375_px(engine: Engine, sample_config: Config) -> None:
    ingest_samples(engine, sample_config, now=MONDAY - timedelta(hours=1))
    reader = add_reader(engine, "ada@example.com", "Ada Lovelace", roles=["technical product manager", "payments"])
    build_issue(engine, sample_config, now=MONDAY)
    html = Composer.open(engine, sample_config, find_issue(engine, "2026-W48")).email_for(reader).html
    ARTIFACTS.mkdir(exist_ok=True)
    page_file = ARTIFACTS / "email.html"
    page_file.write_text(html, encoding="utf-8")
    with chromium() as browser:
        page = browser.new_page()
        for width in (600, 375):
            page.set_viewport_size({"width": width, "height": 900})
            page.goto(page_file.as_uri())
            sizes = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
            assert sizes[0] <= sizes[1], f"horizontal scrolling at {width}px: {sizes}"
            for text in (
                "Top jobs this week",
                "People worth meeting",
                "Unsubscribe",
                "Senior Technical Product Manager",
            ):
                box = page.locator(f"text={text} >> visible=true").first.bounding_box()
                assert box and box["width"] > 0 and box["height"] > 0, text
                assert box["x"] >= 0 and box["x"] + box["width"] <= width + 1, f"{text} overflows at {width}px"
            page.screenshot(path=str(ARTIFACTS / f"email-{width}.png"), full_page=True)
