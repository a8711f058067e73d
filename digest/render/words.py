"""The words of an email that are not a template's: the greeting, the subject and preheader,
and a card's summary. Plain text in, plain text out; templates escape it."""

from __future__ import annotations

import re
from dataclasses import dataclass

from digest.text import parse_salary

SUBJECT_CHARS = 60  # what a phone's inbox shows of a subject, about
PREHEADER_CHARS = 140  # what the inbox shows after the subject, on a wide screen
GREETING_CHARS = 40
_TEAM = re.compile(
    r"\b(?:team|hiring|recruit\w*|talent|careers|jobs|hr|people ops|inc|ltd|llc|gmbh|plc|at)\b|&|\d",
    re.IGNORECASE,
)
_NAME = re.compile(r"(?:[^\W_]|[ .'’&,-])+")  # letters, digits and what names and teams are written with
_HONORIFICS = {"dr", "mr", "mrs", "ms", "mx", "miss", "prof", "sir", "dame"}
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"“(\[]?[A-Z0-9£$€])")
_BULLET = re.compile(r"\s*[•·▪●◦‣∙]\s+")


def greeting_name(name: str) -> str:
    """Whom "Hi ..." addresses: a person's given name as written; a team or company by its
    whole name ("Hiring Team at Ledgerly"); "there" when there is no name to use (none, an
    address, or characters no name is written with)."""
    name = " ".join(name.split())
    if not _NAME.fullmatch(name):
        return "there"
    if _TEAM.search(name):
        return name if len(name) <= GREETING_CHARS else "there"
    family, comma, given = name.partition(",")
    words = (given if comma and given.strip() else family).split()
    while len(words) > 1 and words[0].lower().rstrip(".") in _HONORIFICS:
        words = words[1:]
    initial = len(words) > 1 and len(words[0].rstrip(".")) <= 1  # "J. Doe" is greeted whole
    given_name = " ".join(words) if initial else words[0]
    if given_name.islower():
        given_name = given_name[:1].upper() + given_name[1:]
    return given_name if len(given_name) <= GREETING_CHARS else "there"


def card_summary(text: str, limit: int, salary_shown: bool) -> str:
    """A card's summary: whole sentences up to ``limit`` characters (a first sentence too long
    is cut at a word). Bullet items read as sentences, with no stray bullet marks; a sentence
    stating pay is left out when the card already shows the salary."""
    sentences: list[str] = []
    for piece in _BULLET.split(" ".join(text.split())):
        for sentence in _SENTENCE_END.split(piece.strip(" ;,")):
            sentence = sentence.strip()
            if not sentence or (salary_shown and parse_salary(sentence) is not None):
                continue
            sentences.append(sentence if sentence[-1] in ".!?…:" else sentence + ".")
    kept = ""
    for sentence in sentences:
        if sentence.endswith("…") and kept:  # a sentence the feed's own cut left unfinished
            break
        joined = f"{kept} {sentence}".strip()
        if len(joined) > limit:
            break
        kept = joined
    if kept or not sentences:
        return kept.rstrip(":") + ("." if kept.endswith(":") else "")
    return cut_at_word(sentences[0], limit)


def cut_at_word(text: str, limit: int) -> str:
    """``text`` on one line, at most ``limit`` characters, cut at a word with an ellipsis."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if " " in cut and not text[limit - 1].isspace():
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(" ,.;:–-") + "…"


def count(n: int, one: str, many: str | None = None) -> str:
    if n == 0:
        return ""
    return f"{n} {one if n == 1 else (many or one + 's')}"


@dataclass(frozen=True)
class Lead:
    """What the subject can name: the top job."""

    title: str
    company: str
    salary: str


def _short_title(title: str) -> str:
    """The role without its team: "Senior PM, Payments API" -> "Senior PM"."""
    return re.split(r"\s*(?:,|\s[–—-]\s|\s\|\s|\()\s*", title, maxsplit=1)[0] or title


def subject_and_preheader(lead: Lead | None, jobs: int, people: int) -> tuple[str, str]:
    """A subject of at most SUBJECT_CHARS that names the top job, and a preheader that carries
    what the subject had no room for."""
    counts = _counts(jobs, people)
    if lead is None:
        subject = f"{count(people, 'product person', 'product people')} to meet this week" if people else ""
        subject = subject or "Nothing new this week"
        preheader = f"{counts or 'Nothing new'} picked for you this week."
        return cut_at_word(subject, SUBJECT_CHARS), cut_at_word(preheader, PREHEADER_CHARS)
    at = f" at {lead.company}" if lead.company else ""
    more = f" + {count(jobs - 1, 'more job')}" if jobs > 1 else ""
    short = f" + {jobs - 1} more" if jobs > 1 else ""
    candidates = (
        f"{lead.title}{at}{more}",
        f"{lead.title}{at}{short}",
        f"{_short_title(lead.title)}{at}{more}",
        f"{_short_title(lead.title)}{at}{short}",
        f"{lead.title}{short}",
    )
    fallback = cut_at_word(f"{_short_title(lead.title)}{short}", SUBJECT_CHARS)
    subject = next((c for c in candidates if len(c) <= SUBJECT_CHARS), fallback)
    first = f"{lead.title}{at}" + (f", {lead.salary}" if lead.salary else "")
    rest = [count(jobs - 1, "more job"), count(people, "person", "people")]
    tail = " and ".join(p for p in rest if p)
    preheader = f"{first}. " + (f"Plus {tail}, picked for you." if tail else "Picked for you this week.")
    return cut_at_word(subject, SUBJECT_CHARS), cut_at_word(preheader, PREHEADER_CHARS)


def _counts(jobs: int, people: int) -> str:
    return " and ".join(p for p in (count(jobs, "new job"), count(people, "person", "people")) if p)


def intro(jobs: int, people: int) -> str:
    counts = _counts(jobs, people)
    return f"here {'is' if jobs + people == 1 else 'are'} {counts or 'no new picks'} picked for you."
