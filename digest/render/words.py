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


_HEADER = re.compile(  # a heading before the text: several words, or one word with its colon or dash
    r"^(?:(?:about\s+(?:us|the\s+(?:role|job|position|company|team|opportunity))|job\s+description|who\s+we\s+are"
    r"|the\s+role)\s*[:.!\-–—]*|(?:description|overview|summary|role|position)\s*[:\-–—]+)\s+",
    re.IGNORECASE,
)


def without_repeats(summary: str, title: str, company: str) -> str:
    """``summary`` without what a card already shows at its start: a header ("About the role:",
    "About Kastle"), the title, the company's name ("Kastle Kastle is ..." becomes "Kastle is ...")."""
    text = " ".join(summary.split())
    for _ in range(4):
        before = text
        text = _HEADER.sub("", text, count=1)
        for said in (f"about {company}", title, f"{title} at {company}", f"{title} @ {company}", company):
            said = " ".join(said.split())
            if said and text.lower().startswith(said.lower()) and _repeats(text, len(said)):
                text = text[len(said) :].lstrip(" :.!|,-–—›»·")
        if text == before:
            break
    if not text.strip(" .:!|,-–—›»·"):  # all of it was the title or the company: keep it as it was
        return " ".join(summary.split())
    return text[:1].upper() + text[1:]


def _repeats(text: str, end: int) -> bool:
    """Whether the words up to ``end`` are a heading the text goes on after, not the subject of
    its first sentence ("Kastle is hiring" keeps its company)."""
    rest = text[end:]
    if not rest.strip():
        return False
    if rest[:1] in ":.!|,-–—›»·" or rest[:2] in (" -", " –", " —", " |", " ›", " »", " ·"):
        return True
    following = rest.split()
    return bool(following) and following[0][:1].isupper()


def age(days: float) -> str:
    """How long ago a posting went up, as job boards say it: "today", "3 days ago", "2 weeks ago"."""
    whole = max(0, int(days))
    if whole == 0:
        return "today"
    if whole < 14:
        return f"{whole} day{'s' if whole > 1 else ''} ago"
    if whole < 60:
        return f"{whole // 7} weeks ago"
    return f"{whole // 30} months ago"


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


def _counted_subject(jobs: int, people: int, person: str, weeks: str = "product jobs and people") -> str:
    """A subject for an email without a job of the reader's own roles to name."""
    if jobs:
        return f"{count(jobs, 'job')}" + (f" and {count(people, 'person', 'people')}" if people else "") + " for you"
    if people and person:
        return f"Meet {person}" + (f" + {count(people - 1, 'more person', 'more people')}" if people > 1 else "")
    if people:
        return f"{count(people, 'product person', 'product people')} to meet this week"
    return f"This week's top {weeks}"


def subject_and_preheader(
    lead: Lead | None, jobs: int, people: int, more: int = 0, person: str = "", weeks: str = "product jobs and people"
) -> tuple[str, str]:
    """A subject of at most SUBJECT_CHARS that names the reader's best job (``lead``: one of
    their own, never a filler pick), and a preheader that carries what the subject had no room
    for. ``jobs`` and ``people`` count the reader's own picks, ``more`` the week's others;
    ``person``: the reader's best person of their own roles, named when no job is; ``weeks``:
    what the week's others are ("product jobs"), said when nothing else is."""
    counts = _counts(jobs, people)
    if lead is None:
        subject = _counted_subject(jobs, people, person, weeks)
        preheader = f"{counts} picked for you this week." if counts else f"The week's {count(more, 'top pick')}."
        if more and counts:
            preheader += f" Plus {count(more, 'top pick')} of the week."
        return cut_at_word(subject, SUBJECT_CHARS), cut_at_word(preheader, PREHEADER_CHARS)
    at = f" at {lead.company}" if lead.company else ""
    plus = f" + {count(jobs - 1, 'more job')}" if jobs > 1 else ""
    short = f" + {jobs - 1} more" if jobs > 1 else ""
    candidates = (
        f"{lead.title}{at}{plus}",
        f"{lead.title}{at}{short}",
        f"{_short_title(lead.title)}{at}{plus}",
        f"{_short_title(lead.title)}{at}{short}",
        f"{lead.title}{short}",
    )
    fallback = cut_at_word(f"{_short_title(lead.title)}{short}", SUBJECT_CHARS)
    subject = next((c for c in candidates if len(c) <= SUBJECT_CHARS), fallback)
    first = f"{lead.title}{at}" + (f", {lead.salary}" if lead.salary else "")
    rest = [count(jobs - 1, "more job"), count(people, "person", "people")]
    tail = " and ".join(p for p in rest if p)
    preheader = f"{first}. " + (f"Plus {tail}, picked for you." if tail else "Picked for you this week.")
    if more:
        preheader += f" And {count(more, 'more top pick')} of the week."
    return cut_at_word(subject, SUBJECT_CHARS), cut_at_word(preheader, PREHEADER_CHARS)


def _counts(jobs: int, people: int) -> str:
    return " and ".join(p for p in (count(jobs, "new job"), count(people, "person", "people")) if p)


def intro(jobs: int, people: int, more: int = 0) -> str:
    """The sentence after "Hi Ada,": what is inside, honestly (the week's other picks said apart)."""
    counts = _counts(jobs, people)
    if not counts:
        return "here are this week's top picks."
    own = f"here {'is' if jobs + people == 1 else 'are'} {counts} picked for you"
    return own + (", and more of the week's top picks below." if more else ".")
