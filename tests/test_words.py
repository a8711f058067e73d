"""The email's own words: greeting, subject and preheader, card summaries, the text part."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from digest.build.issue import build_issue, find_issue
from digest.config import Config
from digest.render.compose import Composer, sample_reader
from digest.render.renderer import salary_text
from digest.render.words import (
    SUBJECT_CHARS,
    Lead,
    card_summary,
    cut_at_word,
    greeting_name,
    subject_and_preheader,
    without_repeats,
)
from tests.helpers import add_reader, ingest_samples

MONDAY = datetime(2026, 11, 23, 9, tzinfo=UTC)


@pytest.mark.parametrize(
    "name,greeting",
    [
        ("Ada Lovelace", "Ada"),
        ("Hiring Team at Ledgerly", "Hiring Team at Ledgerly"),
        ("R&D Recruiting", "R&D Recruiting"),
        ("", "there"),
        ("   ", "there"),
        ("ada@example.com", "there"),
        ("Dr. Grace Hopper", "Grace"),
        ("Lovelace, Ada", "Ada"),
        ("lin wei", "Lin"),
        ("J. Doe", "J. Doe"),
        ("Zoë Quill", "Zoë"),
        ("Seán O'Brien", "Seán"),
        ('<img src=x onerror="alert(1)">', "there"),
        ("A" * 60, "there"),
    ],
)
def test_greeting(name: str, greeting: str) -> None:
    assert greeting_name(name) == greeting


def test_the_subject_names_the_top_job_in_sixty_characters_and_the_preheader_the_rest() -> None:
    lead = Lead("Senior Technical Product Manager, Payments API", "Ledgerly", "£110k–£140k")
    subject, preheader = subject_and_preheader(lead, 10, 6)
    assert subject == "Senior Technical Product Manager at Ledgerly + 9 more jobs"
    assert preheader == (
        "Senior Technical Product Manager, Payments API at Ledgerly, £110k–£140k. "
        "Plus 9 more jobs and 6 people, picked for you."
    )
    assert subject_and_preheader(Lead("Product Designer", "Kitebase", ""), 1, 0) == (
        "Product Designer at Kitebase",
        "Product Designer at Kitebase. Picked for you this week.",
    )
    assert subject_and_preheader(None, 0, 4)[0] == "4 product people to meet this week"
    assert subject_and_preheader(None, 0, 4, person="Amara Okafor")[0] == "Meet Amara Okafor + 3 more people"
    assert subject_and_preheader(None, 3, 0)[0] == "3 jobs for you", "no job of their own role to name: a count"
    assert subject_and_preheader(None, 0, 0, more=8) == (
        "This week's top product jobs and people",
        "The week's 8 top picks.",
    ), "an email of the week's best only never pretends they were picked for the reader"
    assert subject_and_preheader(lead, 1, 0, more=9)[1].endswith("And 9 more top picks of the week.")
    very_long = Lead("Principal " + "Very " * 20 + "Long Title", "A Company With A Long Name Indeed", "")
    subject, _ = subject_and_preheader(very_long, 3, 0)
    assert len(subject) <= SUBJECT_CHARS and subject.endswith("…") and "  " not in subject


def test_a_summary_is_whole_sentences_with_no_stray_bullets_and_no_second_salary() -> None:
    text = (
        "Ledgerly moves money for 4,000 marketplaces. You will own the public Payments API. "
        "• Write API design docs • Talk to merchants weekly Salary: GBP 110,000 - 140,000 plus equity."
    )
    assert card_summary(text, 220, salary_shown=True) == (
        "Ledgerly moves money for 4,000 marketplaces. You will own the public Payments API. Write API design docs."
    )
    assert "GBP 110,000" in card_summary(text, 400, salary_shown=False)
    assert card_summary(text, 60, salary_shown=True) == "Ledgerly moves money for 4,000 marketplaces."
    one_long = "word " * 100
    cut = card_summary(one_long, 50, salary_shown=False)
    assert len(cut) <= 50 and cut.endswith("word…")
    assert card_summary("Great role. And more unfinished…", 200, salary_shown=False) == "Great role."
    assert card_summary("", 100, salary_shown=False) == ""


def test_cut_at_word_never_splits_a_word() -> None:
    assert cut_at_word("alpha beta gamma", 12) == "alpha beta…"
    assert cut_at_word("alpha beta gamma", 16) == "alpha beta gamma"
    assert cut_at_word("x" * 30, 10) == "x" * 9 + "…"


def test_salary_names_a_currency_code_once() -> None:
    assert salary_text(170_000, 200_000, "CAD") == "CAD 170k–200k"
    assert salary_text(110_000, 140_000, "GBP") == "£110k–£140k"


def test_the_email_in_words(engine: Engine, sample_config: Config) -> None:
    """The samples as readers get them: greeted right, places as written, pay shown once,
    every subject short, the text part plain and aligned with its links on their own lines."""
    ingest_samples(engine, sample_config, now=MONDAY - timedelta(hours=1))
    ada = add_reader(engine, "ada@example.com", "Ada Lovelace", roles=["technical product manager", "payments"],
                     locations=["uk"], remote=True)  # fmt: skip
    team = add_reader(engine, "hiring@example.com", "Hiring Team at Ledgerly", roles=["technical product manager"],
                      audience="people")  # fmt: skip
    build_issue(engine, sample_config, now=MONDAY)
    composer = Composer.open(engine, sample_config, find_issue(engine, "2026-W48"))
    emails = {
        "ada": composer.email_for(ada),
        "team": composer.email_for(team),
        "anyone": composer.email_for(sample_reader()),
    }
    assert "Hi Ada," in emails["ada"].text and "Hi Hiring Team at Ledgerly," in emails["team"].text
    assert "Hi there," in emails["anyone"].text
    assert "In UK" in emails["ada"].html and "In Uk" not in emails["ada"].html
    for name, mail in emails.items():
        assert len(mail.subject) <= SUBJECT_CHARS, (name, mail.subject)
        assert mail.html.count("<!DOCTYPE") == 1 and mail.html.startswith("<!DOCTYPE html>")
        assert "•" not in mail.html and "•" not in mail.text
        assert not re.search(r"\([^()]*\(", mail.text), f"{name}: nested brackets in the text part"
        assert "GBP 110,000" not in mail.html and "£110,000" not in mail.text, "the salary is shown once"
        lines = mail.text.splitlines()
        assert all(len(line) <= 76 or line.startswith("http") for line in lines), name
        for i, line in enumerate(lines):
            if "http" in line:
                assert line.strip().startswith("http") and " " not in line.strip(), f"{name}: a link shares a line"
                assert lines[i - 1].rstrip().endswith(":"), f"{name}: a link without its label above"
        for section in mail.text.split("PEOPLE WORTH MEETING"):
            rows = section.splitlines()
            numbered = [k for k, line in enumerate(rows) if re.match(r"^ *\d+\. \S", line)]
            stops = {rows[k].index(". ") for k in numbered}
            assert len(stops) <= 1, f"{name}: list numbers end in different columns: {stops}"
            for k in numbered:  # the lines under an item start where its title starts
                indent = rows[k].index(". ") + 2
                assert rows[k + 1][:indent] == " " * indent and rows[k + 1][indent] != " ", (name, rows[k + 1])
    assert any(line.startswith("10. ") for line in emails["anyone"].text.splitlines()), "the samples reach ten jobs"


@pytest.mark.parametrize(("summary", "title", "company", "shown"), [
    ("About Kastle Kastle is hiring a PM.", "PM", "Kastle", "Kastle is hiring a PM."),
    ("About the role: We build payments.", "PM", "X", "We build payments."),
    ("Senior PM - Payments: own the API.", "Senior PM - Payments", "X", "Own the API."),
    ("Role has been filled.", "PM", "X", "Role has been filled."),  # a sentence, not a heading
    ("Position manages the team.", "PM", "X", "Position manages the team."),
    ("Overview of the platform.", "PM", "X", "Overview of the platform."),
    ("Kastle is hiring", "PM", "Kastle", "Kastle is hiring"),  # the company as the subject stays
    ("Apple. ", "PM", "Apple", "Apple."),  # nothing left after it: kept as it was
])  # fmt: skip
def test_a_summary_does_not_begin_by_repeating_the_card(summary: str, title: str, company: str, shown: str) -> None:
    assert without_repeats(summary, title, company) == shown
