"""How a reader's free text is read: roles, topics and a level.

Readers fill in "roles" the way people do: "technical product manager; api; platform",
"Senior product designer, design systems", "tpm; AI/ML", "data product manager". Each term
(or part of one, split at ``,`` ``/`` ``&`` ``+`` ``|`` and "and") is read as

* a **role**: a family of the role model ("technical product manager", "tpm", "ux designer",
  "head of product"), or any other job with its noun ("back-end engineer", "ux researcher",
  "program manager"). Words a family's name leaves over narrow it: "data product manager" is a
  product manager about data, and only such postings are that reader's role;
* a **level** said inside a role ("senior product designer", "associate product manager"),
  used when the reader chose no seniority;
* a **topic**: anything else ("api", "platform", "machine learning", "fintech", "design
  systems"). Topics order a reader's picks within their roles and never bring in a job of
  another family; a reader with topics and no role gets the newsletter's scope narrowed by them.

Pure functions over words; no database here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from digest.build import roles as model
from digest.build.words import STOPWORDS, contains, normalise, stems
from digest.config import Config
from digest.errors import ConfigError

_SEPARATORS = re.compile(r"\s*(?:[,/|&+;()\[\]]|\s[-–—]\s|\band\b|\bor\b)\s*")
# Words around a role or topic that say neither: "product designer who loves design systems".
_FILLER = frozenset((
    "who", "that", "which", "loves", "love", "like", "likes", "liking", "interested", "into", "working", "work",
    "focused", "focusing", "mainly", "mostly", "especially", "ideally", "preferably", "any", "level", "roles",
    "role", "jobs", "job", "position", "positions", "opportunities",
))  # fmt: skip
_FUNCTION = re.compile(r"\s(?:for|in|at|with|who|on|within|around|across)\s")
# A rank and a field that is not product: a job of its own, not a level and a topic.
_RANKED = re.compile(r"(?:head|director|vp|chief|lead)\s+of\s+.+")
# Shorthands readers type for a whole role.
_SHORTHANDS = {"apm": "associate product manager", "pmm": "product marketing manager", "gpm": "group product manager",
               "spm": "senior product manager", "ux/ui": "product designer"}  # fmt: skip
_UI_UX = re.compile(r"\bui\s*/\s*ux\b|\bux\s*/\s*ui\b")  # one role, not two: read before the split at "/"
# Single words that name a family only as a term's last word (its head noun): "senior designer"
# is a designer, "design systems" and "ux researcher" are not.
_HEADS = {"designer": model.DESIGNER, "pm": model.PM, "tpm": model.TPM, "cpo": model.LEADERSHIP}
# Words that name a job when they end a term ("back-end engineer", "ux researcher"); a term
# ending otherwise ("user research", "design systems") is a topic.
ROLE_WORDS = frozenset(
    [
        "engineer",
        "developer",
        "programmer",
        "designer",
        "manager",
        "scientist",
        "analyst",
        "writer",
        "architect",
        "researcher",
        "consultant",
        "recruiter",
        "administrator",
        "marketer",
        "specialist",
        "strategist",
        "technician",
        "coordinator",
        "officer",
        "owner",
        "artist",
        "editor",
        "director",
        "lead",
    ]
)
# What postings and profiles say for the topics readers name most: the topic's other spellings
# and the work it covers (from DESIGN.md's domain notes: where TPMs work, what product people do).
# A reader's topic is looked up here; any other topic matches its own words only.
_SAYS: dict[str, tuple[str, ...]] = {
    "ai": (
        "artificial intelligence",
        "genai",
        "generative ai",
        "llm",
        "llms",
        "machine learning",
        "ml",
        "deep learning",
    ),
    "machine learning": ("ml", "deep learning", "ai", "artificial intelligence", "mlops"),
    "ml": ("machine learning", "deep learning", "ai", "mlops"),
    "api": (
        "apis",
        "sdk",
        "sdks",
        "rest",
        "graphql",
        "webhooks",
        "integrations",
        "developer tools",
        "developer experience",
        "developer platform",
    ),
    "platform": (
        "platforms",
        "infrastructure",
        "cloud",
        "kubernetes",
        "developer tools",
        "developer platform",
        "internal tools",
        "ci/cd",
        "observability",
        "sdk",
        "sdks",
        "libraries",
        "compute",
    ),
    "infrastructure": ("infra", "cloud", "kubernetes", "platform", "compute", "storage", "networking"),
    "data": (
        "analytics",
        "sql",
        "data platform",
        "data warehouse",
        "business intelligence",
        "data science",
        "dashboards",
    ),
    "analytics": ("data", "dashboards", "business intelligence", "metrics", "insights", "reporting"),
    "fintech": (
        "financial technology",
        "financial services",
        "banking",
        "payments",
        "lending",
        "brokerage",
        "crypto",
        "cryptocurrency",
        "defi",
    ),
    "payments": ("payment", "checkout", "billing", "merchant", "acquiring", "card issuing", "fintech"),
    "health": (
        "healthcare",
        "health care",
        "clinical",
        "medical",
        "patient",
        "patients",
        "biotech",
        "pharma",
        "genomics",
        "mental health",
    ),
    "healthcare": ("health", "health care", "clinical", "medical", "patient", "patients", "mental health"),
    "biotech": ("biotechnology", "life sciences", "genomics", "bioinformatics", "pharma", "drug discovery"),
    "genomics": ("genomic", "bioinformatics", "sequencing", "ngs", "genetics"),
    "growth": (
        "experimentation",
        "activation",
        "retention",
        "monetisation",
        "monetization",
        "acquisition",
        "a/b testing",
    ),
    "b2b": ("enterprise", "saas", "business customers"),
    "saas": ("software as a service", "b2b", "subscription software"),
    "design systems": ("design system", "component library", "design tokens"),
    "user research": ("usability", "ux research", "user interviews", "research"),
    "ux": ("user experience",),
    "security": ("cybersecurity", "cyber security", "identity", "auth", "authentication"),
    "developer tools": ("devtools", "developer experience", "sdk", "sdks", "api", "apis", "cli"),
}

# Other names of the same job outside the role model (the role model keeps its families' own).
_JOB_NAMES = (
    ("ux researcher", "user researcher", "design researcher"),
    ("backend engineer", "back-end engineer", "backend developer", "server-side engineer"),
    ("frontend engineer", "front-end engineer", "frontend developer"),
    ("data scientist", "machine learning scientist"),
    ("engineering manager", "software engineering manager", "software development manager"),
)


@dataclass(frozen=True)
class Role:
    """One role a reader named: a family of the role model, or a job of free text, and the words
    that narrow it ("data" in "data product manager")."""

    name: str
    family: str | None = None
    qualifiers: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return " ".join((*self.qualifiers, self.name)) if self.family else self.name


@dataclass(frozen=True)
class Reading:
    """A reader's terms as read: their roles, their topics, and a level said inside a role."""

    roles: tuple[Role, ...] = ()
    topics: tuple[str, ...] = ()
    level: int | None = None

    def to_json(self) -> dict[str, object]:
        data: dict[str, object] = {"roles": [r.label for r in self.roles], "topics": list(self.topics)}
        if self.level is not None:
            data["level"] = model.LEVEL_NAMES[self.level]
        return data

    def describe(self) -> str:
        """ "roles: technical product manager; topics: api, platform", for pages and --explain."""
        parts = []
        if self.roles:
            parts.append("roles: " + ", ".join(r.label for r in self.roles))
        if self.topics:
            parts.append("topics: " + ", ".join(self.topics))
        if self.level is not None:
            parts.append("level: " + model.LEVEL_NAMES[self.level])
        return "; ".join(parts)


def read_terms(terms: Iterable[str], seniority: str = "") -> Reading:
    """Read a reader's ``roles`` terms (as stored: lower case, ``;`` already split). A level
    said in a role counts only when the reader chose no ``seniority`` (theirs wins)."""
    reading = _read(tuple(terms))
    return Reading(reading.roles, reading.topics) if seniority and reading.level is not None else reading


@lru_cache(maxsize=8192)
def _read(terms: tuple[str, ...]) -> Reading:
    roles: dict[str, Role] = {}
    topics: dict[str, None] = {}
    levels: list[int] = []
    for term in terms:
        text = _UI_UX.sub("ux ui", " ".join(term.lower().split()))
        for part in _SEPARATORS.split(text):
            found_roles, found_topics, level = _read_part(part.strip(" .:!?'\"-–—"))
            for role in found_roles:
                roles.setdefault(role.label, role)
            for topic in found_topics:
                topics.setdefault(topic)
            if level is not None:
                levels.append(level)
    return Reading(tuple(roles.values()), tuple(topics), max(levels) if levels else None)


def _read_part(text: str) -> tuple[list[Role], list[str], int | None]:
    """One piece of a term: its roles, its topics, and a level said in it (or None)."""
    text = _SHORTHANDS.get(text, text)
    if not text or not stems(text):
        return [], [], None
    family = model.family_of(text)  # "head of product", "product lead": rank words that name a family
    if family is not None:
        return [Role(family, family)], [], None
    if _RANKED.fullmatch(text):  # "head of design", "director of ux research": a job of its own
        return [Role(text)], [], None
    head, _, tail = _split_at_function_word(text)
    words = head.split()
    kept = [w for w in words if model.level_of(stems(w)) is None]
    level = model.level_of(stems(" ".join(w for w in words if w not in kept)))
    rest = " ".join(w for w in kept if w not in _FILLER)
    found = _role_in(rest, tail) if rest else None
    if found is not None:
        return found[0], found[1], level
    return [], _topics(" ".join((rest, tail))), level


def _split_at_function_word(text: str) -> tuple[str, str, str]:
    """ "backend engineer in fintech" -> ("backend engineer", "in", "fintech"): what follows "in",
    "for", "at", "with", "who" ... says what the work is about, not which job it is."""
    found = _FUNCTION.search(text)
    if found is None or found.start() == 0:
        return text, "", ""
    return text[: found.start()].strip(), found.group(0).strip(), text[found.end() :].strip()


def _role_in(text: str, tail: str) -> tuple[list[Role], list[str]] | None:
    """The role ``text`` names, with the topics of what followed it and of the words a family's
    name leaves after it; None when ``text`` names no job."""
    family = model.family_of(text)
    if family is not None:
        return [Role(family, family)], _topics(tail)
    named, agent = model.classify(text), text.split()[-1].removesuffix("s") in ROLE_WORDS
    if named.near_miss or (agent and named.families and not named.product):  # "program manager", "graphic designer"
        return [Role(text)], _topics(tail)
    found = _family_phrase(text)
    if found is not None:
        family, before, after = found
        return [Role(family, family, before)], _topics(" ".join((after, tail)))
    return ([Role(text)], _topics(tail)) if agent else None


def _family_phrase(text: str) -> tuple[str, tuple[str, ...], str] | None:
    """A family named inside ``text``: the family, the words before its name (they narrow it:
    "data product manager") and after it (topics: "product manager payments")."""
    words = [w for w in text.split() if w not in STOPWORDS]
    if words[-1] in _HEADS:
        return _HEADS[words[-1]], _qualifiers(words[:-1]), ""
    for family in (model.TPM, model.LEADERSHIP, model.OPERATIONS, model.DESIGNER, model.PM):
        for phrase in model.phrases_of(family):
            at = _find(words, phrase)
            if at is not None:
                return family, _qualifiers(words[:at]), " ".join(words[at + len(phrase) :])
    return None


def _find(words: list[str], phrase: tuple[str, ...]) -> int | None:
    """Where ``phrase`` (stemmed words) starts in ``words``, word for word."""
    stemmed = [stems(w)[0] if stems(w) else "" for w in words]
    n = len(phrase)
    return next((i for i in range(len(stemmed) - n + 1) if tuple(stemmed[i : i + n]) == phrase), None)


def _qualifiers(words: Sequence[str]) -> tuple[str, ...]:
    kept = " ".join(w for w in words if w not in STOPWORDS and w not in _FILLER)
    return (kept,) if kept else ()


def _topics(text: str) -> list[str]:
    """A topic as a reader would write it, without the words around it ("who loves", "for")."""
    kept = " ".join(w for w in text.split() if w not in STOPWORDS and w not in _FILLER)
    return [kept] if len(kept) > 1 and stems(kept) else []


@lru_cache(maxsize=4096)
def spellings(topic: str) -> tuple[tuple[str, ...], ...]:
    """A topic's stemmed phrasings: its own words first, then what else says it ("ml" for
    "machine learning", "kubernetes" for "platform")."""
    found = [stems(topic), *(stems(other) for other in _SAYS.get(topic, ()))]
    return tuple(dict.fromkeys(f for f in found if f))


def job_names(role: str) -> tuple[str, ...]:
    """A job's name and its other names ("ux researcher", "user researcher")."""
    key = normalise(role)
    for names in _JOB_NAMES:
        if key in (normalise(n) for n in names):
            return (role, *(n for n in names if normalise(n) != key))
    return (role,)


def topic_query(topic: str) -> tuple[str, ...]:
    """Every stemmed word that says ``topic``, as one relevance query."""
    return tuple(dict.fromkeys(word for phrase in spellings(topic) for word in phrase))


def mentions_topic(words: Sequence[str], topic: str) -> bool:
    """Whether stemmed ``words`` say ``topic`` in any of its spellings."""
    haystack = tuple(words)
    return any(contains(haystack, phrase) for phrase in spellings(topic))


PRODUCT_SCOPE = tuple(Role(family, family) for family in model.PRODUCT_FAMILIES)


def read_scope(terms: Sequence[str]) -> tuple[Role, ...]:
    """The newsletter's scope (``newsletter.scope``): roles only. A topic there is a ValueError
    that says so; no terms at all is the product families."""
    reading = read_terms(" ".join(t.lower().split()) for t in terms)
    if reading.level is not None:
        raise ValueError("a level is not a role: the scope names the role families the newsletter is about, "
                         "without levels (readers choose theirs)")  # fmt: skip
    if reading.topics:
        raise ValueError(f"{reading.topics[0]!r} is a topic, not a role: the scope names the role families "
                         f"the newsletter is about, such as {', '.join(model.PRODUCT_FAMILIES)}")  # fmt: skip
    return reading.roles or PRODUCT_SCOPE


def scope_of(config: Config) -> tuple[Role, ...]:
    """``newsletter.scope`` read as roles; ConfigError naming the file and field for a topic there."""
    try:
        return read_scope(config.newsletter.scope)
    except ValueError as exc:
        raise ConfigError(str(exc), where=f"{config.settings.sources_path.name}: newsletter.scope") from None
