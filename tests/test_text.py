"""Pure text steps: sanitising, plain text, encodings, salaries, dates, titles."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from digest.ingest.formats.titles import choose_pattern, split_title
from digest.ingest.profiles import parse_profiles
from digest.text import absolute_url, fix_mojibake, html_to_text, one_line, parse_salary, sanitise_html
from digest.timeutil import parse_date, plausible

HOSTILE = """<p onclick="steal()">Hello <script>alert(1)</script>
<a href="javascript:alert(1)">js</a> <a href="data:text/html,x">data</a> <a href="/apply">apply</a>
<img src="https://t.example/pixel.gif" width=1 height=1><iframe src="https://evil.example"></iframe>
<style>p{display:none}</style><div style="display:none">hidden?</div><svg onload=x><b>bold</b></svg>
<form action="https://evil.example"><input name=x></form><object data=x></object></p>"""


def test_sanitiser_keeps_nothing_executable() -> None:
    cleaned = sanitise_html(HOSTILE, "https://jobs.example.com/post/1")
    lowered = cleaned.lower()
    for bad in ("<script", "onclick", "javascript:", "data:", "<img", "<iframe", "<style", "style=", "<svg",
                "<form", "<input", "<object", "alert(", "pixel.gif"):  # fmt: skip
        assert bad not in lowered, bad
    assert 'href="https://jobs.example.com/apply"' in cleaned
    assert "Hello" in cleaned and 'rel="noopener noreferrer nofollow"' in cleaned


def test_plain_text_decodes_entities_and_keeps_paragraphs() -> None:
    assert html_to_text("<p>If you&#8217;ve <b>ever</b></p><p>R&amp;D</p>") == "If you’ve ever\n\nR&D"
    assert "alert" not in html_to_text("<p>a<script>alert(1)</script>b</p>")
    assert one_line("Acme\r\nBcc: victim@example.com") == "Acme Bcc: victim@example.com"


@pytest.mark.parametrize(
    ("broken", "fixed"),
    [("ZÃ³calo", "Zócalo"), ("itâ\u0080\u0099s", "it’s"), ("naïve café", "naïve café"), ("日本", "日本")],
)
def test_mojibake_is_repaired_and_good_text_left_alone(broken: str, fixed: str) -> None:
    assert fix_mojibake(broken) == fixed


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Base salary $150,000 - $175,000.", (150000, 175000, "USD")),
        ("Range: $220k–$260k base.", (220000, 260000, "USD")),
        ("£150,000 – £180,000", (150000, 180000, "GBP")),
        ("€95.000 - €120.000", (95000, 120000, "EUR")),
        ("CAD 170,000 - 200,000", (170000, 200000, "CAD")),
        ("Pay is £75 per hour", None),
        ("We have given over $1M to people in need", None),
        ("a $20,000 signing bonus", None),
    ],
)
def test_salary_ranges(text: str, expected: tuple[int, int, str] | None) -> None:
    found = parse_salary(text)
    assert (found.low, found.high, found.currency) == expected if found else expected is None


def test_dates_in_every_form_become_utc() -> None:
    assert parse_date(1779223091267) == parse_date(1779223091.267)
    assert parse_date("2026-07-28T14:23:05") == datetime(2026, 7, 28, 14, 23, 5, tzinfo=UTC)
    assert parse_date("Wed Jun 03 19:36:58 UTC 2020") == datetime(2020, 6, 3, 19, 36, 58, tzinfo=UTC)
    assert parse_date("Mon, 29 Jun 2026 01:08:21 -0000") == datetime(2026, 6, 29, 1, 8, 21, tzinfo=UTC)
    assert parse_date("2026-04-17T05:58:03-04:00") == datetime(2026, 4, 17, 9, 58, 3, tzinfo=UTC)
    assert parse_date("soon") is None and parse_date(None) is None
    now = datetime(2026, 11, 26, tzinfo=UTC)
    assert plausible(datetime(1970, 1, 1, tzinfo=UTC), now) is None
    assert plausible(datetime(2030, 1, 1, tzinfo=UTC), now) is None
    assert plausible(datetime(2026, 11, 20, tzinfo=UTC), now) is not None


def test_absolute_links_only() -> None:
    assert absolute_url("javascript:alert(1)") is None
    assert absolute_url("//evil.example/x") is None
    assert absolute_url("/jobs/1", "https://a.example/feed") == "https://a.example/jobs/1"
    assert absolute_url("https://a.example/?utm_source=Job Share") == "https://a.example/?utm_source=Job%20Share"


def test_titles_split_by_the_feed_pattern() -> None:
    titles = ["Aha!: Product Manager", "Acme: Designer", "Zed: TPM"]
    assert choose_pattern(titles, "auto") == "company: title"
    assert split_title("Aha!: Product Manager", "company: title") == ("Product Manager", "Aha!")
    assert split_title("Manager, Research - Empire AI", "title - company") == ("Manager, Research", "Empire AI")
    assert choose_pattern(["Plain title", "Another"], "auto") == "title"


def test_profiles_drop_contact_details_and_keep_public_flag() -> None:
    body = (
        b'{"id": "1", "name": "Ada", "headline": "TPM - mail ada@example.com or +44 20 7946 0958",'
        b' "skills": "SQL;API design", "public": true}\n'
        b'{"id": "2", "name": "Bo", "public": "false"}\n{"name": "no id"}\n'
    )
    profiles, skipped = parse_profiles(body, "jsonl")
    assert skipped == 1 and [p.public for p in profiles] == [True, False]
    assert "@" not in profiles[0].headline and "7946" not in profiles[0].headline
    assert profiles[0].skills == ("SQL", "API design")
    csv_profiles, _ = parse_profiles(b"id,name,skills,public\n9,Cy,SQL;Go,true\n", None)
    assert csv_profiles[0].skills == ("SQL", "Go") and csv_profiles[0].public
