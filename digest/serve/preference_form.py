"""The preference center's form: what it shows for a reader, and what a posted form means.

The form posts the ``--pref`` keys (``roles`` and ``locations`` as repeated fields or
``;``-separated text, ``remote`` true/false/empty, ``seniority``, ``audience``, ``name``) and
``pause_weeks``. An empty field means no preference; a key left out of the form is left as it
is (a browser posts every field). Each bad value is reported beside its field and nothing is
saved."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from digest.addresses import BAD_CHARS
from digest.build.reading import Role, read_terms
from digest.build.roles import PRODUCT_FAMILIES
from digest.preferences import AUDIENCES, SENIORITIES, UnknownLevel, seniority_of
from digest.timeutil import as_utc

FAMILIES = tuple((family, family[0].upper() + family[1:]) for family in PRODUCT_FAMILIES)
_LEVEL_LABELS = {"mid": "Mid-level", "director": "Director, head or VP"}
SENIORITY_CHOICES = (
    ("", "Any level"),
    *((level, _LEVEL_LABELS.get(level, level.capitalize())) for level in SENIORITIES),
)
PAUSE_WEEKS = (1, 2, 3, 4, 6, 8, 12)
MAX_PAUSE_WEEKS = 52
MAX_TERMS, MAX_TERM = 20, 80
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f")


@dataclass
class Choices:
    """The form's values as shown (text, as the reader typed or as stored)."""

    families: set[str] = field(default_factory=set)
    other_roles: str = ""
    locations: str = ""
    remote: str = ""
    seniority: str = ""
    audience: str = "both"
    name: str = ""
    pause_weeks: str = ""


@dataclass
class Posted:
    """A posted form: the record to save (the ``--pref`` keys it holds), the pause asked for
    (None: leave it as it is; 0: no pause), and an error per bad field."""

    record: dict[str, Any]
    pause_weeks: int | None
    errors: dict[str, str]
    shown: Choices


def choices_of(reader: Any) -> Choices:
    """What the form shows for a stored reader."""
    roles = list(reader.roles)
    return Choices(
        families={r for r in roles if r in PRODUCT_FAMILIES},
        other_roles="; ".join(r for r in roles if r not in PRODUCT_FAMILIES),
        locations="; ".join(reader.locations),
        remote="" if reader.remote is None else str(reader.remote).lower(),
        seniority=reader.seniority,
        audience=reader.audience or "both",
        name=reader.name,
    )


def read_as(roles: Sequence[str], seniority: str, scope: Sequence[Role]) -> str:
    """How the reader's terms were read, in a sentence for their page ("roles: technical product
    manager; topics: api, platform"), or what they get without roles."""
    reading = read_terms(roles, seniority)  # a level chosen from the list wins over one said in a role
    described = reading.describe()
    if reading.roles:
        return described
    newsletter = ", ".join(r.label for r in scope)
    if reading.topics:
        return f"{described}, within {newsletter}"
    return f"no roles: the week's best in {newsletter}" + (f"; {described}" if described else "")


def seniority_options(current: str) -> list[tuple[str, str]]:
    """The levels offered, with a stored level not among them kept as an option (set by the operator)."""
    options = list(SENIORITY_CHOICES)
    if current and current not in dict(options):
        options.append((current, current))
    return options


def pause_options(paused_until: datetime | None, now: datetime) -> list[tuple[str, str]]:
    if paused_until is not None and as_utc(paused_until) > now:
        first = [("", f"Paused until {as_utc(paused_until):%-d %B %Y}"), ("0", "End the pause now")]
    else:
        first = [("", "No pause")]
    return first + [(str(n), f"Pause for {n} week{'s' if n > 1 else ''}") for n in PAUSE_WEEKS]


def _unprintable(text: str) -> bool:
    """Control characters (terminal escapes among them) and the bidi controls that reorder text."""
    return any(c in BAD_CHARS or unicodedata.category(c) == "Cc" or c in _BIDI for c in text)


def _terms(values: Sequence[str], key: str, errors: dict[str, str]) -> list[str]:
    terms = [" ".join(t.split()) for v in values for t in v.split(";")]
    seen: dict[str, str] = {}
    for term in terms:
        if term:
            seen.setdefault(term.casefold(), term)  # "Product Manager" twice is one role: the first spelling
    terms = list(seen.values())
    if any(len(t) > MAX_TERM for t in terms):
        errors[key] = f"Each entry can be at most {MAX_TERM} characters."
    elif len(terms) > MAX_TERMS:
        errors[key] = f"At most {MAX_TERMS} entries, please."
    return terms


def read_form(form: Any) -> Posted:
    """Validate a posted form (a Starlette FormData, or any mapping with ``getlist``)."""
    errors: dict[str, str] = {}

    def texts(key: str) -> list[str]:
        raw = form.getlist(key)
        values = [v for v in raw if isinstance(v, str)]  # a file part is no answer
        if len(values) != len(raw) or any(_unprintable(v) for v in values):
            errors[key] = "Please use plain text on one line, without control characters."
        return values

    roles = _terms(texts("roles"), "roles", errors)
    locations = _terms(texts("locations"), "locations", errors)
    remote_text = (texts("remote") or [""])[-1].strip().lower()
    remote = {"": None, "true": True, "false": False}.get(remote_text, "bad")
    if remote == "bad":
        errors["remote"] = "Choose one of the three."
    seniority = " ".join((texts("seniority") or [""])[-1].lower().split())
    try:
        seniority = seniority_of(seniority[:60])
    except UnknownLevel:
        errors["seniority"] = f"Choose a level from the list: {', '.join(SENIORITIES[:-1])} or {SENIORITIES[-1]}."
    audience = (texts("audience") or ["both"])[-1].strip().lower() or "both"
    if audience not in AUDIENCES:
        errors["audience"] = "Choose jobs, people, or both."
    name = " ".join((texts("name") or [""])[-1].split())
    if len(name) > 200:
        errors["name"] = "At most 200 characters, please."
    pause_text = (texts("pause_weeks") or [""])[-1].strip()
    pause: int | None = None
    if pause_text:
        if re.fullmatch(r"[0-9]{1,3}", pause_text) and 0 <= int(pause_text) <= MAX_PAUSE_WEEKS:
            pause = int(pause_text)
        else:
            errors["pause_weeks"] = f"A number of weeks from 0 to {MAX_PAUSE_WEEKS}."
    shown = Choices(
        families={r for r in roles if r.lower() in PRODUCT_FAMILIES},
        other_roles="; ".join(r for r in roles if r.lower() not in PRODUCT_FAMILIES),
        locations="; ".join(locations), remote=remote_text, seniority=seniority, audience=audience, name=name,
        pause_weeks=pause_text,
    )  # fmt: skip
    record = {"roles": roles, "locations": locations, "remote": remote, "seniority": seniority,
              "audience": audience, "name": name}  # fmt: skip
    present = {key: value for key, value in record.items() if key in form}  # a key left out stays as it is
    return Posted(present, pause, errors, shown)
