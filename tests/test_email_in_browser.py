"""The rendered email in a real browser, as a reader's client would show it: at 600 px and
375 px, in light and dark, the computed styles are the designed ones (so the phone and
dark-mode rules really apply), nothing scrolls sideways, and every call to action is a
44 px tap target on a phone. A third view simulates Outlook for Windows: its conditional
comments opened, max-width and <style> ignored. Screenshots go to test-artifacts/."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

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

# What email.css designs, per view: selector -> {property: computed value}.
LIGHT = {
    "body": {"background-color": "rgb(243, 244, 246)"},
    ".container": {"background-color": "rgb(255, 255, 255)"},
    ".title": {"color": "rgb(17, 24, 39)"},
    ".summary": {"color": "rgb(55, 65, 81)"},
    ".itemlink": {"color": "rgb(29, 78, 216)"},
    ".why": {"color": "rgb(91, 33, 182)"},  # the default accent, #5b21b6
}
DARK = {
    "body": {"background-color": "rgb(15, 17, 21)"},
    ".container": {"background-color": "rgb(24, 27, 33)"},
    ".title": {"color": "rgb(243, 244, 246)"},
    ".summary": {"color": "rgb(209, 213, 219)"},
    ".itemlink": {"color": "rgb(147, 197, 253)"},
    ".brand": {"color": "rgb(157, 122, 211)"},  # the accent's tint that reads on the dark card
}
WIDE = {
    ".px": {"padding-left": "28px", "padding-right": "28px"},
    ".title": {"font-size": "26px"},
    ".summary": {"font-size": "14px"},
    ".itemlink": {"display": "inline"},
}
PHONE = {
    ".px": {"padding-left": "16px", "padding-right": "16px"},
    ".title": {"font-size": "22px"},
    ".summary": {"font-size": "15px"},
    ".itemlink": {"display": "block"},  # the title is the link: a whole-width tap target
    ".container": {"border-top-left-radius": "0px"},
}


@pytest.fixture
def email_file(engine: Engine, sample_config: Config) -> Iterator[Path]:
    ingest_samples(engine, sample_config, now=MONDAY - timedelta(hours=1))
    reader = add_reader(engine, "ada@example.com", "Ada Lovelace", roles=["technical product manager", "payments"])
    build_issue(engine, sample_config, now=MONDAY)
    html = Composer.open(engine, sample_config, find_issue(engine, "2026-W48")).email_for(reader).html
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / "email.html"
    path.write_text(html, encoding="utf-8")
    yield path


def computed(page: Any, selector: str, properties: list[str]) -> dict[str, str]:
    return page.evaluate(
        "([s, props]) => { const style = getComputedStyle(document.querySelector(s));"
        " return Object.fromEntries(props.map(p => [p, style.getPropertyValue(p)])); }",
        [selector, properties],
    )


def assert_styles(page: Any, expected: dict[str, dict[str, str]], view: str) -> None:
    for selector, styles in expected.items():
        found = computed(page, selector, list(styles))
        assert found == styles, f"{view}: {selector} is {found}, designed {styles}"


@pytest.mark.parametrize(
    "width,scheme",
    [(600, "light"), (600, "dark"), (375, "light"), (375, "dark")],
)
def test_the_designed_styles_apply_at_each_width_and_scheme(email_file: Path, width: int, scheme: str) -> None:
    """Fails when the @media rules stop applying: premailer stripping their !important, a
    selector the inliner breaks, a rule lost on the way."""
    view = f"{width}px {scheme}"
    with chromium() as browser:
        page = browser.new_page()
        page.set_viewport_size({"width": width, "height": 900})
        page.emulate_media(color_scheme=scheme)
        page.goto(email_file.as_uri())
        assert_styles(page, {**(LIGHT if scheme == "light" else DARK)}, view)
        assert_styles(page, WIDE if width == 600 else PHONE, view)
        sizes = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert sizes[0] <= sizes[1], f"{view}: scrolls sideways: {sizes}"
        container = page.locator(".container").bounding_box()
        assert container and round(container["width"]) == min(width, 600), f"{view}: container {container}"
        for text in ("Top jobs this week", "People worth meeting", "Unsubscribe", "Senior Technical Product Manager"):
            box = page.locator(f"text={text} >> visible=true").first.bounding_box()
            assert box and box["width"] > 0 and box["height"] > 0, f"{view}: {text} not shown"
            assert box["x"] >= 0 and box["x"] + box["width"] <= width + 1, f"{view}: {text} overflows"
        titles = page.locator("a.itemlink")
        assert titles.count() >= 10 and titles.count() == page.locator("table.card").count(), "each title a link"
        if width == 375:
            targets = page.locator("a.itemlink, a.footerlink")
            for i in range(targets.count()):
                box = targets.nth(i).bounding_box()
                assert box and box["height"] >= 44, f"{view}: tap target {targets.nth(i).inner_text()!r}: {box}"
        preheader = page.locator(".preheader").bounding_box()
        assert preheader is None or preheader["height"] == 0, "the preheader is never seen in the body"
        shots = {(375, "light"): "email-375-light.png", (600, "dark"): "email-600-dark.png",
                 (600, "light"): "email-600-light.png", (375, "dark"): "email-375-dark.png"}  # fmt: skip
        page.screenshot(path=str(ARTIFACTS / shots[width, scheme]), full_page=True)


# Ten job cards of the samples on a 375 px phone: 2,902 px in the design before 2026-12-08 (a
# "View job" button per card, longer summaries); about two thirds of that is the aim.
TEN_JOBS_BEFORE = 2902


def test_ten_jobs_are_about_two_thirds_as_tall_on_a_phone(engine: Engine, sample_config: Config) -> None:
    ingest_samples(engine, sample_config, now=MONDAY - timedelta(hours=1))
    reader = add_reader(engine, "anyone@example.com", "Ada Lovelace")  # no preferences: ten product jobs
    build_issue(engine, sample_config, now=MONDAY)
    html = Composer.open(engine, sample_config, find_issue(engine, "2026-W48")).email_for(reader).html
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / "email-ten-jobs.html"
    path.write_text(html, encoding="utf-8")
    with chromium() as browser:
        page = browser.new_page()
        page.set_viewport_size({"width": 375, "height": 900})
        page.goto(path.as_uri())
        jobs, height = page.evaluate(
            "() => { const cards = [...document.querySelectorAll('table.card')].slice(0, 10);"
            " return [cards.length, cards[cards.length - 1].getBoundingClientRect().bottom"
            " - cards[0].getBoundingClientRect().top]; }"
        )
        page.screenshot(path=str(ARTIFACTS / "email-ten-jobs-375.png"), full_page=True)
    print(f"ten jobs at 375 px: {height:.0f} px ({height / TEN_JOBS_BEFORE:.0%} of the {TEN_JOBS_BEFORE} px before)")
    assert jobs == 10
    assert height <= 0.7 * TEN_JOBS_BEFORE, f"{height:.0f} px: about two thirds of {TEN_JOBS_BEFORE} is the aim"


def outlook_view(html: str) -> str:
    """The email as Outlook for Windows lays it out, near enough for widths: it opens the
    [if mso] comments, ignores max-width, and drops the <style> media rules (caniemail:
    no @media)."""
    html = html.replace("<!--[if mso]>", "").replace("<![endif]-->", "")
    html = re.sub(r"<style>.*?</style>", "", html, flags=re.DOTALL)
    return re.sub(r"max-width:\s*[^;\"']+;?", "", html)


def test_outlook_for_windows_keeps_the_email_600_px_wide(email_file: Path) -> None:
    """Without the conditional table, the container's width:100% would fill the window."""
    simulated = email_file.with_name("email-outlook.html")
    simulated.write_text(outlook_view(email_file.read_text(encoding="utf-8")), encoding="utf-8")
    with chromium() as browser:
        page = browser.new_page()
        page.set_viewport_size({"width": 1280, "height": 900})
        page.goto(simulated.as_uri())
        box = page.locator(".container").bounding_box()
        assert box and round(box["width"]) == 600, f"the container is {box} wide in Outlook's layout"
        assert page.locator("text=Top jobs this week >> visible=true").count() == 1
        page.screenshot(path=str(ARTIFACTS / "email-outlook-1280.png"), full_page=True)
