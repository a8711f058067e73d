"""Rendering: Jinja templates, CSS inlined by premailer a fixed number of times per issue.

premailer costs ~13 ms a call, so it never runs per reader or per segment:
  1. the frame (digest.html, with empty slots) is inlined once;
  2. every card (job.html, person.html) is inlined once, all in one document (cards.html);
  3. a segment's email is assembled from those strings, with its "why" lines filled in;
  4. a reader's email fills in the name, address and links (unsubscribe, preferences, view
     in browser), escaped.
Placeholders carry a random nonce, so feed text can never fake one.
"""

from __future__ import annotations

import html
import logging
import re
import secrets
import textwrap
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date

import premailer
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from digest.build.ranking import Pick
from digest.config import Config
from digest.errors import ConfigError
from digest.preferences import Preferences
from digest.render.colours import dark_mode_accent
from digest.render.words import Lead, cut_at_word, greeting_name, intro, subject_and_preheader

TEXT_WIDTH = 72  # columns of the plain-text part
MAX_HTML_BYTES = 100_000  # Gmail clips messages at about 102 KB
READER_FIELD_ROOM = 2_000  # bytes kept free for the reader's name, address and link
_CARD = re.compile(r"<!--card:(\S+?)-->(.*?)<!--/card:\1-->", re.DOTALL)
_SECTION = "<!--section:{0}-->(.*?)<!--/section:{0}-->"
_WHY = re.compile(r"<!--why-->(.*?)<!--/why-->", re.DOTALL)
_MARKER = re.compile(r"<!--/?(?:section|slot|card|why)(?::[^>]*)?-->\n?")


@dataclass(frozen=True)
class JobView:
    id: int
    title: str
    company: str
    location: str
    remote: bool
    salary: str
    url: str
    summary: str
    why: str = ""
    age: str = ""  # "3 days ago", from the build

    @property
    def meta(self) -> str:
        """Company, place, remote, pay and age, as the card's details line says them."""
        remote = self.remote and "remote" not in self.location.lower()
        parts = (self.company or "Company not named", self.location, "Remote" if remote else "", self.salary,
                 self.age)  # fmt: skip
        return " · ".join(p for p in parts if p)


@dataclass(frozen=True)
class PersonView:
    id: int
    name: str
    headline: str
    location: str
    skills: tuple[str, ...]
    url: str
    why: str = ""

    @property
    def meta(self) -> str:
        return " · ".join(p for p in (self.headline, self.location) if p)


@dataclass(frozen=True)
class Reader:
    email: str
    name: str
    unsubscribe_url: str
    preferences_url: str = ""
    view_url: str = ""


@dataclass(frozen=True)
class Draft:
    """A segment's email, with the reader's fields still to fill in. ``jobs`` and ``people``:
    every card's item, the reader's own and the week's others that fill a thin email."""

    subject: str
    preheader: str
    html: str
    text: str
    jobs: tuple[int, ...]
    people: tuple[int, ...]


def _only(n: int, one: str, many: str) -> str:
    return f"No {many}" if not n else f"Only {n} {one if n == 1 else many}"


def lead_of(picks: Sequence[Pick]) -> Pick | None:
    """The job a subject names: the reader's best of their own roles (never a related pick nor
    one of the week's others filling a thin email), or None."""
    return next((p for p in picks if p.kind == "job" and p.tier == "exact"), None)


@dataclass
class Cards:
    """A draft's cards by section: the reader's own jobs and people, and ``more`` (the week's
    best, filling an email that had too few of the reader's own); ``lead``: the reader's best
    job of their own roles, which the subject names (None when there is none)."""

    jobs: list[JobView]
    people: list[PersonView]
    more: list[JobView | PersonView]
    lead: JobView | None
    person: PersonView | None = None

    def pop(self) -> None:
        """One card less: the week's others first, then the longer of jobs and people."""
        if self.more:
            self.more.pop()
        elif len(self.jobs) >= len(self.people):
            self.jobs.pop()
        else:
            self.people.pop()

    def __bool__(self) -> bool:
        return bool(self.jobs or self.people or self.more)


@dataclass(frozen=True)
class Email:
    subject: str
    preheader: str
    html: str
    text: str


class Fields:
    """Placeholders for values filled in after inlining: ``fields.email`` -> ``DGST<nonce>EMAILZ``."""

    def __init__(self, nonce: str) -> None:
        self._nonce = nonce

    def __getattr__(self, name: str) -> str:
        return f"DGST{self._nonce}{name.upper().replace('_', '')}Z"


def salary_text(low: int | None, high: int | None, currency: str | None) -> str:
    if low is None or high is None:
        return ""
    symbol = {"USD": "$", "GBP": "£", "EUR": "€"}.get(currency or "", f"{currency} " if currency else "")

    def money(value: int) -> str:
        return f"{symbol}{value // 1000}k" if value % 1000 == 0 else f"{symbol}{value:,}"

    if low == high:
        return money(low)
    high_text = money(high)
    return f"{money(low)}–{high_text.removeprefix(symbol) if symbol.endswith(' ') else high_text}"


def week_label(week: str) -> str:
    year, number = int(week[:4]), int(week[6:])
    monday, sunday = date.fromisocalendar(year, number, 1), date.fromisocalendar(year, number, 7)
    return f"Week {number}: {monday:%-d %b} – {sunday:%-d %b %Y}"


def template_environment(config: Config) -> Environment:
    dirs = config.template_dirs()
    if not dirs:
        raise ConfigError("no email templates found (templates/email/ next to sources.yaml, or the packaged ones)")
    env = Environment(
        loader=FileSystemLoader([str(d) for d in dirs]),
        autoescape=select_autoescape(["html"], default_for_string=False, default=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["wrap"] = wrap
    return env


def wrap(text: str, indent: int, width: int = TEXT_WIDTH) -> str:
    """Plain text folded at ``width`` columns, lines after the first indented by ``indent``
    (the template writes the first line's indent itself). Long words such as URLs stay whole."""
    lines = textwrap.wrap(" ".join(str(text).split()), width - indent, break_long_words=False, break_on_hyphens=False)
    return ("\n" + " " * indent).join(lines)


def inline_css(document: str) -> str:
    """premailer: styles into attributes; @media rules stay behind in <style>, keeping their
    !important (without it the inlined styles would win and no phone or dark-mode rule would
    ever apply). width and height attributes stay as the template wrote them: premailer would
    turn the 600 px container's width="600" into "100%", and Outlook for Windows reads only
    the attribute."""
    inliner = premailer.Premailer(
        document,
        keep_style_tags=False,
        remove_classes=False,
        strip_important=False,
        disable_basic_attributes=["width", "height"],
        disable_validation=True,
        disable_link_rewrites=True,
        allow_network=False,
        cssutils_logging_level=logging.CRITICAL,
    )
    return str(inliner.transform())


@dataclass
class Renderer:
    """Renders one issue for every segment and reader; counts its premailer calls."""

    config: Config
    week: str
    jobs: dict[int, JobView]
    people: dict[int, PersonView]
    nonce: str = field(default_factory=lambda: secrets.token_hex(6))
    whole_pool: bool = True  # False: inline only the cards a draft shows (one reader's page)
    premailer_calls: int = 0
    _frame: str | None = None
    _cards: dict[str, str] = field(default_factory=dict)
    _primed: bool = False

    def __post_init__(self) -> None:
        self.env = template_environment(self.config)
        self.fields = Fields(self.nonce)

    def _context(self, **extra: object) -> dict[str, object]:
        return {
            "newsletter": self.config.newsletter,
            "accent_dark": dark_mode_accent(self.config.newsletter.accent_color),
            "week_label": week_label(self.week),
            "fields": self.fields,
            **extra,
        }

    def frame(self) -> str:
        if self._frame is None:
            self._frame = inline_css(self.env.get_template("digest.html").render(self._context()))
            self.premailer_calls += 1
        return self._frame

    def ensure_cards(self, keys: Iterable[str]) -> None:
        """Inline every card not yet inlined, all in one premailer call. ``draft`` asks for the
        whole pool at once, so later segments never need another call."""
        missing = [k for k in dict.fromkeys(keys) if k not in self._cards]
        if not missing:
            return
        cards = [{"key": k, "kind": k.split("-")[0], "item": self._item(k)} for k in missing]
        inlined = inline_css(self.env.get_template("cards.html").render(self._context(cards=cards)))
        self.premailer_calls += 1
        self._cards.update({m.group(1): m.group(2).strip() for m in _CARD.finditer(inlined)})

    def prime(self) -> None:
        """Inline the frame and every card of the pool, once (also before forking senders)."""
        if self._primed:
            return
        self.frame()
        self.ensure_cards([f"job-{i}" for i in self.jobs] + [f"person-{i}" for i in self.people])
        self._primed = True

    def _item(self, key: str) -> JobView | PersonView:
        kind, number = key.split("-")
        return self.jobs[int(number)] if kind == "job" else self.people[int(number)]

    def draft(self, prefs: Preferences, picks: Sequence[Pick]) -> Draft:
        """The segment's email: its cards in rank order, shrunk until the HTML fits."""
        cards = self._cards_of(picks)
        if self.whole_pool:
            self.prime()
        else:
            self.frame()
            self.ensure_cards(self._key(c) for c in (*cards.jobs, *cards.people, *cards.more))
        while True:
            draft = self._assemble(prefs, cards)
            if len(draft.html.encode()) <= MAX_HTML_BYTES - READER_FIELD_ROOM or not cards:
                return draft
            cards.pop()

    def _cards_of(self, picks: Sequence[Pick]) -> Cards:
        def view(pick: Pick) -> JobView | PersonView:
            found = self.jobs[pick.id] if pick.kind == "job" else self.people[pick.id]
            return replace(found, why=" · ".join(pick.reasons))

        own = [p for p in picks if p.tier != "filler"]
        jobs = [view(p) for p in own if p.kind == "job"]
        people = [view(p) for p in own if p.kind == "person"]
        best = lead_of(own)
        lead = view(best) if best is not None else None
        person = next((view(p) for p in own if p.kind == "person" and p.tier == "exact"), None)
        return Cards([j for j in jobs if isinstance(j, JobView)], [p for p in people if isinstance(p, PersonView)],
                     [view(p) for p in picks if p.tier == "filler"], lead if isinstance(lead, JobView) else None,
                     person if isinstance(person, PersonView) else None)  # fmt: skip

    @staticmethod
    def _key(item: JobView | PersonView) -> str:
        return f"{'job' if isinstance(item, JobView) else 'person'}-{item.id}"

    def _card(self, item: JobView | PersonView) -> str:
        card = self._cards[self._key(item)]
        if not item.why:
            return _WHY.sub("", card)
        return card.replace(self.fields.why, html.escape("Why: " + item.why))

    def _assemble(self, prefs: Preferences, cards: Cards) -> Draft:
        page = self.frame()
        sections: dict[str, Sequence[JobView | PersonView]] = {
            "jobs": cards.jobs, "people": cards.people, "more": cards.more,
        }  # fmt: skip
        for name, items in sections.items():
            if items:
                page = page.replace(f"<!--slot:{name}-->", "\n".join(self._card(i) for i in items))
            else:
                page = re.sub(_SECTION.format(name), "", page, flags=re.DOTALL)
        subject, preheader, intro = self._words(cards)
        more_jobs = [i for i in cards.more if isinstance(i, JobView)]
        more_people = [i for i in cards.more if isinstance(i, PersonView)]
        text = self.env.get_template("digest.txt").render(
            self._context(jobs=cards.jobs, people=cards.people, more=cards.more, more_note=self._more_note(cards))
        )
        values = {
            self.fields.preheader: preheader,
            self.fields.intro: intro,
            self.fields.morenote: self._more_note(cards),
        }
        page = _MARKER.sub("", page)
        for token, value in values.items():
            page, text = page.replace(token, html.escape(value)), text.replace(token, value)
        jobs = tuple(j.id for j in (*cards.jobs, *more_jobs))
        return Draft(subject, preheader, page, text, jobs, tuple(p.id for p in (*cards.people, *more_people)))

    def _more_note(self, cards: Cards) -> str:
        """Why the week's others are there, in one sentence."""
        if not cards.more:
            return ""
        if not (cards.jobs or cards.people):
            return "Nothing new matched your choices this week."
        kinds = {"job" if isinstance(item, JobView) else "person" for item in cards.more}
        if kinds == {"job"}:
            return (
                f"{_only(len(cards.jobs), 'job', 'jobs')} matched your choices this week: the week's top jobs follow."
            )
        if kinds == {"person"}:
            return (f"{_only(len(cards.people), 'person', 'people')} matched your choices this week: the week's "
                    "top people follow.")  # fmt: skip
        return "Few picks matched your choices this week: the week's top picks follow."

    def _words(self, cards: Cards) -> tuple[str, str, str]:
        """Subject, preheader and intro: honest about what is inside; the subject names the
        reader's best pick of their own roles, never one of the week's others."""
        lead = cards.lead if cards.lead in cards.jobs else None  # (a card dropped to fit no longer leads)
        named = Lead(lead.title, lead.company, lead.salary) if lead else None
        jobs, people, more = len(cards.jobs), len(cards.people), len(cards.more)
        person = cards.person.name if cards.person and cards.person in cards.people else ""
        kinds = {isinstance(item, JobView) for item in cards.more}
        weeks = {frozenset({True}): "product jobs", frozenset({False}): "product people"}.get(
            frozenset(kinds), "product jobs and people"
        )
        subject, preheader = subject_and_preheader(named, jobs, people, more, person, weeks)
        return subject, preheader, intro(jobs, people, more)

    @property
    def reader_tokens(self) -> tuple[str, ...]:
        f = self.fields
        return (f.greeting_name, f.email, f.unsubscribe_url, f.preferences_url, f.view_url)

    def reader_values(self, reader: Reader) -> dict[str, str]:
        """Each reader token's value, as plain text (escape it for HTML)."""
        name = greeting_name(reader.name)
        values = (name, reader.email, reader.unsubscribe_url, reader.preferences_url, reader.view_url)
        return {token: cut_at_word(value, 300) for token, value in zip(self.reader_tokens, values, strict=True)}

    def personalise(self, draft: Draft, reader: Reader) -> Email:
        """Fill in the reader's fields (escaped for HTML) into the segment's draft."""
        page, text = draft.html, draft.text
        for token, value in self.reader_values(reader).items():
            page, text = page.replace(token, html.escape(value)), text.replace(token, value)
        return Email(draft.subject, draft.preheader, page, text)
