"""Rendering: safe, small, fast by design, and a MIME message Python's parser reads back."""

from __future__ import annotations

import email
import email.policy
import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from digest.build.issue import build_issue, find_issue
from digest.config import Config, load_config
from digest.models import Subscriber
from digest.preferences import Preferences
from digest.render.compose import Composer, sample_reader
from tests.conftest import ROOT, config_for
from tests.helpers import add_reader, ingest_samples

pytestmark = pytest.mark.dates

MONDAY = datetime(2026, 11, 23, 9, tzinfo=UTC)
GOLDEN = ROOT / "tests" / "golden"
HOSTILE_FEED = """<?xml version="1.0"?><rss version="2.0"><channel><title>evil</title>
<item><title>Evil Corp: &lt;script&gt;alert(1)&lt;/script&gt;Product Manager &lt;b onmouseover=x&gt;</title>
<link>https://evil.example/job/1</link>
<description>&lt;p onclick="x()"&gt;Great job&lt;/p&gt;&lt;script&gt;alert(2)&lt;/script&gt;
&lt;a href="javascript:alert(3)"&gt;apply&lt;/a&gt;&lt;iframe src="https://evil.example"&gt;&lt;/iframe&gt;
&lt;style&gt;body{display:none}&lt;/style&gt;&lt;img src="https://evil.example/p.gif" onerror="alert(4)"&gt;
Salary $150,000 - $170,000</description></item>
<item><title>Evil Corp: Product Manager, Payments</title><link>javascript:alert(5)</link></item>
<item><title>Evil Corp: &#13;&#10;Bcc: victim@evil.example&#13;&#10;X-Injected: yes</title><link>https://evil.example/job/2</link></item>
</channel></rss>"""


@pytest.fixture
def composer(engine: Engine, sample_config: Config) -> Composer:
    ingest_samples(engine, sample_config, now=MONDAY - timedelta(hours=1))
    add_reader(engine, "ada@example.com", "Ada Lovelace", roles=["technical product manager", "payments"], remote=True)
    add_reader(engine, "lin@example.com", "Lin Wei", roles=["product designer"], audience="jobs")
    build_issue(engine, sample_config, now=MONDAY)
    return Composer.open(engine, sample_config, find_issue(engine, "2026-W48"))


def reader(engine: Engine, address: str) -> Subscriber:
    with Session(engine) as session:
        return session.exec(select(Subscriber).where(Subscriber.email == address)).one()


def test_hostile_feed_content_never_reaches_the_email(engine: Engine, tmp_path: Path) -> None:
    (tmp_path / "evil.rss").write_text(HOSTILE_FEED)
    config = config_for(tmp_path, "newsletter: {min_items: 1}\nsources:\n  - {name: evil, url: evil.rss}\n")
    ingest_samples(engine, config, now=MONDAY - timedelta(hours=1))
    add_reader(engine, "x@example.com", '<img src=x onerror="alert(6)"> Mallory')
    build_issue(engine, config, now=MONDAY)
    composer = Composer.open(engine, config, find_issue(engine, "2026-W48"))
    html = composer.email_for(reader(engine, "x@example.com")).html.lower()
    for bad in ("<script", "onclick", "onmouseover", "onerror", "javascript:", "<iframe", "evil.example/p.gif",
                "display:none}", "alert("):  # fmt: skip
        assert bad not in html, bad
    assert "<style>" in html and html.count("<style") == 1  # only our own @media rules
    assert "hi there," in html, "a name no name is written with is not used to greet"
    add_reader(engine, "team@example.com", "R&D Hiring Team")
    assert "Hi R&amp;D Hiring Team," in composer.email_for(reader(engine, "team@example.com")).html
    raw = composer.message_for(reader(engine, "x@example.com"), MONDAY)
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert b"\nBcc:" not in head and b"\nX-Injected" not in head, "CR/LF in feed titles never make headers"


def test_premailer_calls_grow_with_neither_readers_nor_segments(composer: Composer, engine: Engine) -> None:
    composer.draft(Preferences())
    baseline = composer.renderer.premailer_calls
    for n in range(40):
        prefs = Preferences.of(roles=["product manager"], locations=[f"city {n}"], remote=n % 2 == 0)
        composer.draft(prefs)
    for address in ("ada@example.com", "lin@example.com"):
        composer.email_for(reader(engine, address))
    assert baseline <= 2 and composer.renderer.premailer_calls <= baseline + 1


def test_reader_fields_are_escaped_and_sections_follow_the_audience(composer: Composer, engine: Engine) -> None:
    ada = composer.email_for(reader(engine, "ada@example.com"))
    lin = composer.email_for(reader(engine, "lin@example.com"))
    assert "Hi Ada," in ada.html and "People worth meeting" in ada.html and "Top jobs this week" in ada.html
    assert "People worth meeting" not in lin.html and "PEOPLE WORTH MEETING" not in lin.text
    assert "DGST" not in ada.html + ada.text + lin.html + lin.text, "every placeholder is filled"
    assert "Why: Matches your roles" in ada.html and "Why: Matches your roles" in ada.text


def test_html_is_inlined_absolute_and_small(composer: Composer, engine: Engine) -> None:
    html = composer.email_for(reader(engine, "ada@example.com")).html
    assert len(html.encode()) < 100_000
    style = re.findall(r"<style[^>]*>(.*?)</style>", html, re.DOTALL)
    assert (
        len(style) == 1
        and "@media" in style[0]
        and re.sub(r"@media[^{]*\{([^{}]*\{[^{}]*\})*\s*\}", "", style[0]).strip() == ""
    )
    assert 'style="' in html and 'role="presentation"' in html
    links = re.findall(r'href="([^"]*)"', html)
    assert links and all(link.startswith(("https://", "http://")) for link in links)


def test_lists_shrink_before_the_html_passes_100_kb(engine: Engine, tmp_path: Path) -> None:
    items = "".join(
        f"<item><title>Co{n}: Product Manager {n}</title><link>https://jobs.example.com/{n}</link>"
        f"<description>{'Own the roadmap. ' * 60}</description></item>"
        for n in range(300)
    )
    (tmp_path / "many.rss").write_text(f'<rss version="2.0"><channel><title>m</title>{items}</channel></rss>')
    config = config_for(
        tmp_path,
        "newsletter: {jobs_per_email: 100}\nranking: {max_per_company: 100}\nsources:\n  - {name: m, url: many.rss}\n",
    )
    ingest_samples(engine, config, now=MONDAY - timedelta(hours=1))
    build_issue(engine, config, now=MONDAY)
    composer = Composer.open(engine, config, find_issue(engine, "2026-W48"))
    draft = composer.draft(Preferences())
    assert len(draft.html.encode()) < 100_000 and 20 < len(draft.jobs) < 100


def test_eml_is_a_proper_multipart_message(composer: Composer, engine: Engine) -> None:
    raw = composer.message_for(reader(engine, "ada@example.com"), MONDAY)
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert message.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    assert message["To"] == "Ada Lovelace <ada@example.com>" and "Product People Weekly" in message["From"]
    assert len(message["Subject"]) <= 60 and "at Ledgerly" in message["Subject"]
    assert message["Message-ID"].startswith("<digest.2026-W48.")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    raw_header = re.search(rb"^List-Unsubscribe: (.*)\r\n", raw, re.MULTILINE)
    assert raw_header and re.fullmatch(rb"<http://localhost:8000/u/[A-Za-z0-9_-]+>", raw_header.group(1))
    assert all(len(line) <= 76 for line in raw.split(b"\r\n\r\n", 1)[1].split(b"\r\n")), "QP lines stay within RFC 2045"
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "Hi Ada," in html and len(html.encode()) < 100_000
    rendered = composer.email_for(reader(engine, "ada@example.com"))
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert html.replace("\r\n", "\n") == rendered.html and text.replace("\r\n", "\n") == rendered.text, "pieces join"
    again = composer.message_for(reader(engine, "ada@example.com"), MONDAY)
    assert again == raw, "the same reader and week give the same bytes"


def test_a_message_stuffed_for_smtp_is_the_message_dot_stuffed(composer: Composer, engine: Engine) -> None:
    """The composer stuffs each piece once per segment; joined, that must equal stuffing the
    whole message, also when a reader's own values put a dot at the start of a line."""
    from digest.render.mime import dot_stuffed

    add_reader(engine, "dot@example.com", ".NET Platform Team")  # greeted by the whole name, which starts a piece
    for address in ("ada@example.com", "dot@example.com"):
        plain = composer.message_for(reader(engine, address), MONDAY)
        stuffed = composer.message_for(reader(engine, address), MONDAY, stuffed=True)
        assert stuffed == dot_stuffed(plain)
    assert b"\r\n.." in stuffed, "the dotted name does start a line"


def test_header_injection_through_names_and_titles(composer: Composer, engine: Engine) -> None:
    mallory = add_reader(engine, "m@example.com", "Mallory\r\nBcc: victim@example.com")
    raw = composer.message_for(reader(engine, "m@example.com"), MONDAY)
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert b"\r\nBcc:" not in head and b"\nBcc:" not in head and mallory.email == "m@example.com"


def test_crlf_in_a_feed_title_never_makes_a_header(engine: Engine, tmp_path: Path) -> None:
    (tmp_path / "t.rss").write_text("""<rss version="2.0"><channel><title>t</title><item>
      <title>Evil: Product Manager&#13;&#10;Bcc: victim@evil.example&#13;&#10;X-Injected: yes</title>
      <link>https://evil.example/job/9</link></item></channel></rss>""")
    config = config_for(tmp_path, "newsletter: {min_items: 1}\nsources:\n  - {name: t, url: t.rss}\n")
    ingest_samples(engine, config, now=MONDAY - timedelta(hours=1))
    add_reader(engine, "x@example.com")
    build_issue(engine, config, now=MONDAY)
    raw = Composer.open(engine, config, find_issue(engine, "2026-W48")).message_for(
        reader(engine, "x@example.com"), MONDAY
    )
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert b"\nBcc:" not in head and b"\nX-Injected" not in head
    subject = email.message_from_bytes(raw, policy=email.policy.default)["Subject"]
    assert subject == "Product Manager Bcc: victim@evil.example X-Injected: yes"


def render_golden(engine: Engine, config: Config) -> dict[str, str]:
    ingest_samples(engine, config, now=MONDAY - timedelta(hours=1))
    add_reader(engine, "ada@example.com", "Ada Lovelace", roles=["technical product manager", "payments"], remote=True,
               public_id="ada0" * 8)  # fmt: skip
    build_issue(engine, config, now=MONDAY)
    composer = Composer.open(engine, config, find_issue(engine, "2026-W48"))
    ada = composer.email_for(reader(engine, "ada@example.com"))
    anyone = composer.email_for(sample_reader())
    return {"ada.html": ada.html, "ada.txt": ada.text, "anyone.html": anyone.html, "anyone.txt": anyone.text}


def test_golden_files(engine: Engine, sample_config: Config) -> None:
    """Recorded feeds in, rendered email out. Regenerate with DIGEST_REGENERATE_GOLDEN=1 and review the diff."""
    config = load_config(
        {"DIGEST_SECRET_KEY": "golden-key-for-the-recorded-emails"}, sample_config.settings.sources_path
    )
    rendered = render_golden(engine, config)
    for name, text in rendered.items():
        path = GOLDEN / name
        if os.environ.get("DIGEST_REGENERATE_GOLDEN"):
            path.write_text(text, encoding="utf-8")
        assert path.read_text(encoding="utf-8") == text, f"{name} differs from the golden file"


def test_preview_finds_a_reader_however_their_address_is_written(
    composer: Composer, engine: Engine, sample_config: Config
) -> None:
    """One way to find a reader by address: an internationalised domain, in any case or in its
    ASCII form, names the same reader (preview once lower-cased the address and missed them)."""
    from digest.render.preview import render_preview
    from digest.subscribers import add

    add(engine, "Zoe@Bücher.example", "Zoë Quill", {"roles": ["product designer"]})
    for written in ("zoe@bücher.example", "ZOE@BÜCHER.EXAMPLE", "zoe@xn--bcher-kva.example"):
        text = render_preview(engine, sample_config, "2026-W48", written, "text").decode()
        assert "Zoë" in text and "zoe@xn--bcher-kva.example" in text, written


def test_the_frame_outlook_and_the_brand_slot(engine: Engine, tmp_path: Path) -> None:
    """One DOCTYPE; Outlook's 600 px conditional table and the container's width="600" kept
    (premailer once made it "100%"); a preheader hidden every way a client honours and never
    low-contrast text; the logo and accent colour from newsletter:; a call to action per card."""
    config = config_for(tmp_path, "newsletter: {min_items: 1, logo_url: 'https://cdn.example.com/l.png', "
                        "logo_width: 120, accent_color: '#0F766E'}\nsources:\n  - {name: t, url: t.rss}\n")  # fmt: skip
    (tmp_path / "t.rss").write_text((ROOT / "samples" / "product-jobs.rss").read_text())
    ingest_samples(engine, config, now=MONDAY - timedelta(hours=1))
    add_reader(engine, "x@example.com", "Ada")
    build_issue(engine, config, now=MONDAY)
    page = Composer.open(engine, config, find_issue(engine, "2026-W48")).email_for(reader(engine, "x@example.com")).html
    assert page.startswith("<!DOCTYPE html>\n<html") and page.count("<!DOCTYPE") == 1
    assert re.search(r'<!--\[if mso\]><table role="presentation" align="center" width="600"', page)
    assert re.search(r'<table role="presentation" class="container"[^>]* width="600"', page)
    preheader = re.search(r'<div class="preheader" style="([^"]*)"', page)
    assert preheader and "mso-hide:all" in preheader.group(1) and "font-size:0" in preheader.group(1)
    assert "color" not in preheader.group(1), "no text coloured like the page (SpamAssassin HTML_FONT_LOW_CONTRAST)"
    assert '<img class="logo" src="https://cdn.example.com/l.png" width="120" alt="Product People Weekly"' in page
    assert re.search(r'class="why"[^>]*color:#0f766e', page), "the why-lines in the accent"
    assert "color: #0f766e !important" not in page and re.search(r"\.brand \{\s*color: #[0-9a-f]{6} !important", page)
    cards = page.count('class="card"')
    assert cards and page.count('class="itemlink"') == cards, "every card's title is its link"
