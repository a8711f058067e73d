"""Explainable ranking: every pick carries its score and the reasons behind it, in plain words.

score = freshness x w_freshness + match x w_match + completeness x w_completeness
        + (source weight - 1) x w_source_weight
match = role (1 for the reader's role, 0.4 for a related one, + 0.5 x text relevance)
        + place (remote, location) + level (the reader's seniority)

A reader who names roles gets the postings (and people) of those roles first; when they run
out, related roles fill the email, shown as such ("Close to your roles: product leadership"). Roles are
read by the role model (``digest.build.roles``), text relevance by BM25 over stemmed words
(``digest.build.relevance``). A reader with no roles gets the product roles first. Pure
functions over candidates: no database here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property, lru_cache
from typing import Any

import numpy as np
from numpy.typing import NDArray

from digest.build import roles as model
from digest.build.pay import PayVerdict, verdict
from digest.build.relevance import Relevance
from digest.build.words import stems
from digest.config import Ranking
from digest.preferences import Preferences

DESCRIPTION_CHARS = 200  # a summary this long counts as a real description
EXACT, RELATED = 2, 1  # match tiers: related picks only fill what exact ones leave
RELATED_MATCH = 0.4
# The noun that names a free-text role ("back-end engineer"): a posting must name it (or a synonym) in its title.
_ROLE_NOUNS = {w: group for group in (("engin", "develop", "programm"), ("design",), ("manag",), ("scientist",),
               ("analyst",), ("writer",), ("architect",), ("research",), ("consult",), ("recruit",),
               ("administr",), ("market",)) for w in group}  # fmt: skip


@dataclass(frozen=True)
class JobCandidate:
    id: int
    title: str
    company: str
    location: str
    remote: bool
    has_salary: bool
    body: str  # summary and tags, for matching
    summary_chars: int
    posted_at: datetime
    source_weight: float = 1.0
    salary_low: int | None = None
    salary_high: int | None = None
    currency: str | None = None

    @cached_property
    def role(self) -> model.RoleOf:
        return model.classify(self.title, self.body[:600])

    @cached_property
    def words(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """Stemmed title and body."""
        return stems(self.title), stems(self.body)

    @cached_property
    def location_lc(self) -> str:
        return self.location.lower()

    @cached_property
    def posted(self) -> float:
        return self.posted_at.timestamp()

    @cached_property
    def pay(self) -> PayVerdict:
        if not self.has_salary or not {model.PM, model.TPM} & self.role.families:
            return PayVerdict(0.0, "")
        return verdict(self.role.level, self.salary_low, self.salary_high, self.currency)


@dataclass(frozen=True)
class PersonCandidate:
    id: int
    name: str
    headline: str
    location: str
    skills: tuple[str, ...]
    seniority: str
    has_url: bool
    joined_at: datetime

    @cached_property
    def role(self) -> model.RoleOf:
        found = model.classify(self.headline, " ".join(self.skills))
        level = model.reader_level(self.seniority)
        return found if level is None else model.RoleOf(found.families, found.near_miss, found.mentioned, level)

    @cached_property
    def words(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        return stems(self.headline), stems(" ; ".join(self.skills))

    @cached_property
    def location_lc(self) -> str:
        return self.location.lower()


@dataclass(frozen=True)
class Pick:
    """One ranked item of a segment: the hand-off from the build to the renderer, frozen in
    ``segment.picks`` as JSON (``to_json``, read back with ``picks_of``). ``reasons`` are for
    readers; ``detail`` holds the parts of the score, for ``digest build --explain``."""

    kind: str  # job | person
    id: int
    score: float
    reasons: tuple[str, ...]
    detail: tuple[tuple[str, float | str], ...] = ()

    def to_json(self) -> dict[str, object]:
        data: dict[str, object] = {"kind": self.kind, "id": self.id, "score": self.score,
                                   "reasons": list(self.reasons)}  # fmt: skip
        if self.detail:
            data["detail"] = dict(self.detail)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Pick:
        detail = data.get("detail") or {}
        return cls(str(data["kind"]), int(data["id"]), float(data.get("score", 0.0)), tuple(data.get("reasons", ())),
                   tuple(detail.items()) if isinstance(detail, Mapping) else ())  # fmt: skip


def picks_of(frozen: Iterable[Mapping[str, Any]]) -> list[Pick]:
    """A segment's frozen picks (``segment.picks``), typed."""
    return [Pick.from_json(item) for item in frozen]


@lru_cache(maxsize=4096)
def _place_pattern(place: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![a-z0-9]){re.escape(place)}(?![a-z0-9])")


def mentions(text: str, place: str) -> bool:
    """Whether lower-cased ``text`` names ``place`` as whole words."""
    return bool(place) and _place_pattern(place).search(text) is not None


@dataclass(frozen=True)
class RoleMatch:
    """How a pool's candidates match one of a reader's roles: a tier and a match value each."""

    role: str
    family: str | None
    tiers: NDArray[np.int8]
    match: NDArray[np.float64]
    via: tuple[str, ...]  # per candidate: the related family, for the reason
    mentions: NDArray[np.bool_] | None = None  # per candidate: only its description names the role (a topic)


Candidate = JobCandidate | PersonCandidate


class Index:
    """A week's candidates (jobs or people) read once: roles, words, relevance, and the vectors
    each distinct role, place and level gives, kept for the next segment that asks."""

    def __init__(self, items: Sequence[Candidate]) -> None:
        self.items = list(items)
        self.size = len(self.items)
        self.roles = [item.role for item in self.items]
        words = [item.words for item in self.items]
        self.titles = [set(t) for t, _ in words]
        self.bodies = [set(b) for _, b in words]
        self.relevance = Relevance([t for t, _ in words], [b for _, b in words])
        self._roles: dict[str, RoleMatch] = {}
        self._places: dict[str, NDArray[np.float64]] = {}
        self._levels: dict[int, NDArray[np.float64]] = {}
        self.product = np.array([r.product for r in self.roles], dtype=bool)
        self.remote = np.array([_is_remote(item) for item in self.items], dtype=bool)

    def role(self, role: str) -> RoleMatch:
        found = self._roles.get(role)
        if found is None:
            found = self._roles[role] = self._match(role)
        return found

    def _match(self, role: str) -> RoleMatch:
        family = model.family_of(role)
        words = stems(role)
        tiers = np.zeros(self.size, dtype=np.int8)
        match = np.zeros(self.size)
        via = [""] * self.size
        mentions = np.zeros(self.size, dtype=bool)
        if family is not None:
            for i, found in enumerate(self.roles):
                if model.exact(family, found):
                    tiers[i], match[i] = EXACT, 1.0
                elif (other := model.related(family, found)) is not None:
                    tiers[i], match[i], via[i] = RELATED, RELATED_MATCH, other
            query = tuple(dict.fromkeys(words + stems(family)))
        else:
            self._free_text(role, words, tiers, match, via, mentions)
            query = words
        match += 0.5 * self.relevance.of(query) * (tiers > 0)
        return RoleMatch(role, family, tiers, match, tuple(via), mentions)

    def _free_text(self, role: str, words: tuple[str, ...], tiers: NDArray[np.int8], match: NDArray[np.float64],
                   via: list[str], mentions: NDArray[np.bool_]) -> None:  # fmt: skip
        """A role outside the model: its noun ("engineer", or "developer") must be in the title,
        the rest in the title (a match) or the body (related); a topic ("payments") in the title
        is a match, in the body only a related pick ("Mentions payments"). A near miss (a program
        manager, product marketing) is left out, unless it is what the reader asked for."""
        if not words:
            return
        noun = _ROLE_NOUNS.get(words[-1])
        rest = set(words[:-1]) if noun else set(words)
        wants_near_miss = bool(model.classify(role).near_miss)
        for i in range(self.size):
            title, body = self.titles[i], self.bodies[i]
            found = self.roles[i]
            if found.near_miss and not found.families and not wants_near_miss:
                continue
            if noun is not None:
                if not title.intersection(noun):
                    continue
                if rest <= title:
                    tiers[i], match[i] = EXACT, 1.0
                elif rest <= title | body:
                    tiers[i], match[i], via[i] = RELATED, RELATED_MATCH, role
            elif rest <= title:
                tiers[i], match[i] = EXACT, 1.0
            elif rest <= title | body:
                tiers[i], match[i], via[i], mentions[i] = RELATED, RELATED_MATCH, role, True

    def place(self, place: str) -> NDArray[np.float64]:
        found = self._places.get(place)
        if found is None:
            found = self._places[place] = np.array([mentions(item.location_lc, place) for item in self.items],
                                                   dtype=np.float64)  # fmt: skip
        return found

    def level(self, wanted: int) -> NDArray[np.float64]:
        """0.3 for the reader's level, 0.1 for the one next to it."""
        found = self._levels.get(wanted)
        if found is None:
            values = [0.0 if r.level is None else (0.3 if r.level == wanted else 0.1 if abs(r.level - wanted) == 1
                      else 0.0) for r in self.roles]  # fmt: skip
            found = self._levels[wanted] = np.array(values)
        return found


def _is_remote(item: Candidate) -> bool:
    return item.remote if isinstance(item, JobCandidate) else "remote" in item.location_lc


@dataclass
class Scored:
    tiers: NDArray[np.int8]
    scores: NDArray[np.float64]
    parts: dict[str, NDArray[np.float64]]
    matches: list[RoleMatch]


def score_all(index: Index, prefs: Preferences, weights: Ranking, base: NDArray[np.float64]) -> Scored:
    """Every candidate's tier and score for one reader, as vectors."""
    matches = [index.role(role) for role in prefs.roles if model.family_of(role) or stems(role)]
    if matches:  # (a role of stop words or symbols alone says nothing: as if none were named)
        tiers = np.max([m.tiers for m in matches], axis=0)
        role = np.max([m.match for m in matches], axis=0)
        role = role + 0.25 * np.maximum(0, sum((m.tiers == EXACT).astype(np.float64) for m in matches) - 1)
    else:  # no roles named: the product roles first, then the rest
        tiers = np.where(index.product, EXACT, RELATED).astype(np.int8)
        role = index.product.astype(np.float64)
    place = np.zeros(index.size)
    if prefs.remote:
        place += 0.5 * index.remote
    if prefs.locations:
        place += 0.5 * np.max([index.place(p) for p in prefs.locations], axis=0)
    wanted = model.reader_level(prefs.seniority)
    level = index.level(wanted) if wanted is not None else np.zeros(index.size)
    scores = np.round(base + weights.match * (role + place + level), 4)
    return Scored(tiers, scores, {"role": role, "place": place, "level": level}, matches)


class JobIndex(Index):
    """A week's jobs, with what does not depend on the reader scored once."""

    def __init__(self, jobs: Sequence[JobCandidate], weights: Ranking, as_of: datetime) -> None:
        super().__init__(jobs)
        self.jobs = list(jobs)
        self.as_of = as_of
        self.fresh = np.array([0.5 ** (max(0.0, (as_of - j.posted_at).total_seconds() / 86400) / weights.half_life_days)
                               for j in self.jobs])  # fmt: skip
        self.complete = np.array([_job_completeness(j) for j in self.jobs])
        self.base = (weights.freshness * self.fresh + weights.completeness * self.complete
                     + weights.source_weight * np.array([j.source_weight - 1.0 for j in self.jobs]))  # fmt: skip
        self.posted = np.array([j.posted for j in self.jobs])
        self.ids = np.array([j.id for j in self.jobs])


def _job_completeness(job: JobCandidate) -> float:
    """Salary 0.4 (0.2 more when in line for the level, 0.2 less when below), location 0.2,
    a real description 0.4."""
    score = 0.4 * job.has_salary + 0.2 * job.pay.score
    score += 0.2 * bool(job.location) + 0.4 * (job.summary_chars >= DESCRIPTION_CHARS)
    return score


def rank_jobs(
    jobs: Sequence[JobCandidate] | JobIndex, prefs: Preferences, weights: Ranking, as_of: datetime, limit: int
) -> list[Pick]:
    """The top ``limit`` jobs: the reader's roles first, best score first, then related roles;
    at most ``max_per_company`` per company, and one posting per (company, title) when a board
    lists a role twice. ``jobs`` may be a JobIndex built once for many readers."""
    index = jobs if isinstance(jobs, JobIndex) else JobIndex(jobs, weights, as_of)
    if not index.size or limit <= 0:
        return []
    scored = score_all(index, prefs, weights, index.base)
    order = np.lexsort((index.ids, -index.posted, -scored.scores, -scored.tiers))
    chosen: list[Pick] = []
    per_company: dict[str, int] = {}
    seen_roles: set[tuple[str, str]] = set()
    for i in order:
        if scored.tiers[i] == 0:
            break
        job = index.jobs[i]
        company, role = job.company.lower(), (job.company.lower(), job.title.lower())
        if role in seen_roles or (company and per_company.get(company, 0) >= weights.max_per_company):
            continue
        chosen.append(_explain(index, scored, int(i), "job", prefs))
        seen_roles.add(role)
        per_company[company] = per_company.get(company, 0) + 1
        if len(chosen) == limit:
            break
    return chosen


class PeopleIndex(Index):
    """A week's people, with their completeness scored once."""

    def __init__(self, people: Sequence[PersonCandidate], weights: Ranking) -> None:
        super().__init__(people)
        self.people = list(people)
        complete = [0.25 * sum((bool(p.headline), len(p.skills) >= 2, p.has_url, bool(p.location))) for p in people]
        self.base = weights.completeness * np.array(complete)
        self.newest = np.array([p.joined_at.timestamp() for p in people])
        self.ids = np.array([p.id for p in people])


def rank_people(
    people: Sequence[PersonCandidate] | PeopleIndex, prefs: Preferences, weights: Ranking, limit: int
) -> list[Pick]:
    """The top ``limit`` people by the same role model: the reader's roles first, then related ones."""
    index = people if isinstance(people, PeopleIndex) else PeopleIndex(people, weights)
    if not index.size or limit <= 0:
        return []
    scored = score_all(index, prefs, weights, index.base)
    order = np.lexsort((index.ids, -index.newest, -scored.scores, -scored.tiers))
    return [_explain(index, scored, int(i), "person", prefs) for i in order[:limit] if scored.tiers[i] > 0]


def _explain(index: Index, scored: Scored, i: int, kind: str, prefs: Preferences) -> Pick:
    """The pick of candidate ``i`` with its reasons in plain words and the parts of its score."""
    item = index.items[i]
    reasons: list[str] = []
    exact = [m.role for m in scored.matches if m.tiers[i] == EXACT]
    if exact:
        reasons.append("Matches your roles: " + ", ".join(exact))
    elif scored.matches:
        related = next(m for m in scored.matches if m.tiers[i] == RELATED)
        mentioned = related.mentions is not None and related.mentions[i]
        reasons.append(f"Mentions {related.via[i]}" if mentioned else f"Close to your roles: {related.via[i]}")
    elif index.product[i]:
        reasons.append("Product role: " + _family_words(index.roles[i]))
    if prefs.remote and index.remote[i]:
        reasons.append("Remote")
    place = next((p for p in prefs.locations if index.place(p)[i]), None)
    if place:
        reasons.append(f"In {_place_words(place, item.location)}")
    level = index.roles[i].level
    if scored.parts["level"][i] >= 0.3 and level is not None:
        reasons.append(f"{model.LEVEL_NAMES[level].capitalize()} level")
    if isinstance(item, JobCandidate) and item.has_salary:
        reasons.append(item.pay.words.capitalize() if item.pay.words else "Salary listed")
    detail: list[tuple[str, float | str]] = [("tier", "exact" if scored.tiers[i] == EXACT else "related")]
    detail += [(name, round(float(values[i]), 3)) for name, values in scored.parts.items()]
    if isinstance(index, JobIndex):
        detail += [("fresh", round(float(index.fresh[i]), 3)), ("complete", round(float(index.complete[i]), 3))]
    return Pick(kind, item.id, float(scored.scores[i]), tuple(reasons), tuple(detail))


def _family_words(role: model.RoleOf) -> str:
    order = [f for f in (model.TPM, model.PM, model.DESIGNER, model.OPERATIONS, model.LEADERSHIP) if f in role.families]
    return order[0] if order else "product"


def _place_words(place: str, location: str) -> str:
    """The place as the posting writes it ("UK", "New York"), else as the reader did."""
    found = re.search(rf"(?<![A-Za-z0-9]){re.escape(place)}(?![A-Za-z0-9])", location, re.IGNORECASE)
    return found.group(0) if found else place
