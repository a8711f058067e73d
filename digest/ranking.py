"""Explainable ranking: every pick carries its score and the reasons behind it.

score = freshness x w_freshness + match x w_match + completeness x w_completeness
        + (source weight - 1) x w_source_weight

A reader who names roles only gets jobs (and people) that match one of them; location,
remote and seniority raise a match but do not exclude. Pure functions: no database here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from digest.config import Ranking
from digest.preferences import Preferences

# Common ways postings and profiles name the same role.
ALIASES: dict[str, tuple[str, ...]] = {
    "technical product manager": ("technical product manager", "tpm", "technical pm", "product manager, technical"),
    "product manager": ("product manager", "pm", "product owner"),
    "product designer": ("product designer", "ux designer", "product design", "ui/ux designer", "ux/ui designer"),
    "product operations": ("product operations", "product ops"),
    "product leadership": ("head of product", "director of product", "vp of product", "vp product",
                           "chief product officer", "cpo", "product director", "group product manager"),
    "senior": ("senior", "sr", "l5", "ic5"),
    "staff": ("staff", "l6", "ic6"),
    "principal": ("principal", "l7", "ic7"),
    "director": ("director", "head of"),
}  # fmt: skip
DESCRIPTION_CHARS = 200  # a summary this long counts as a real description


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

    def __post_init__(self) -> None:  # lower-cased once, not once per segment
        object.__setattr__(self, "_title", self.title.lower())
        object.__setattr__(self, "_body", self.body.lower())
        object.__setattr__(self, "_location", self.location.lower())


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

    def __post_init__(self) -> None:
        object.__setattr__(self, "_headline", self.headline.lower())
        object.__setattr__(self, "_skills", " ; ".join(self.skills).lower())
        object.__setattr__(self, "_location", self.location.lower())


@dataclass(frozen=True)
class Pick:
    kind: str  # job | person
    id: int
    score: float
    reasons: tuple[str, ...]

    def to_json(self) -> dict[str, object]:
        return {"kind": self.kind, "id": self.id, "score": self.score, "reasons": list(self.reasons)}


@lru_cache(maxsize=4096)
def _pattern(term: str) -> re.Pattern[str]:
    variants = ALIASES.get(term, (term,))
    alternatives = "|".join(re.escape(v) for v in sorted(variants, key=len, reverse=True))
    return re.compile(rf"(?<![a-z0-9])(?:{alternatives})(?![a-z0-9])")


@lru_cache(maxsize=200_000)  # segments share terms and items: each pair is searched once
def mentions(text: str, term: str) -> bool:
    """Whether lower-cased ``text`` names ``term`` (or a common alias of it) as whole words."""
    return bool(term) and _pattern(term).search(text) is not None


def _role_match(title: str, body: str, roles: Iterable[str]) -> tuple[float, list[str]]:
    """1 for a role named in the title, 0.5 in the body; each further role adds a quarter."""
    scores: list[float] = []
    reasons: list[str] = []
    for role in roles:
        if mentions(title, role):
            scores, reasons = [*scores, 1.0], [*reasons, f'matches "{role}"']
        elif mentions(body, role):
            scores, reasons = [*scores, 0.5], [*reasons, f'mentions "{role}"']
    if not scores:
        return 0.0, reasons
    return max(scores) + 0.25 * (len(scores) - 1), reasons


def _place_match(location: str, remote: bool, prefs: Preferences) -> tuple[float, list[str]]:
    score, reasons = 0.0, list[str]()
    if prefs.remote and remote:
        score, reasons = score + 0.5, [*reasons, "remote"]
    for place in prefs.locations:
        if mentions(location, place):
            score, reasons = score + 0.5, [*reasons, f"in {place.title()}"]
            break
    return score, reasons


def score_job(job: JobCandidate, prefs: Preferences, weights: Ranking, as_of: datetime) -> Pick | None:
    """The job's pick for this reader, or None when it matches none of the reader's roles."""
    title, body, location = job._title, job._body, job._location  # type: ignore[attr-defined]
    role, reasons = _role_match(title, body, prefs.roles)
    if prefs.roles and role == 0:
        return None
    place, place_reasons = _place_match(location, job.remote, prefs)
    level = 0.3 if prefs.seniority and mentions(title, prefs.seniority) else 0.0
    reasons += place_reasons + ([f"{prefs.seniority} level"] if level else [])
    complete, complete_reasons = _job_completeness(job)
    age_days = max(0.0, (as_of - job.posted_at).total_seconds() / 86400)
    freshness = 0.5 ** (age_days / weights.half_life_days)
    score = (
        weights.freshness * freshness
        + weights.match * (role + place + level)
        + weights.completeness * complete
        + weights.source_weight * (job.source_weight - 1.0)
    )
    return Pick("job", job.id, round(score, 4), tuple(reasons + complete_reasons))


def _job_completeness(job: JobCandidate) -> tuple[float, list[str]]:
    score, reasons = 0.0, list[str]()
    if job.has_salary:
        score, reasons = score + 0.4, ["salary listed"]
    if job.location:
        score += 0.2
    if job.summary_chars >= DESCRIPTION_CHARS:
        score += 0.4
    return score, reasons


def score_person(person: PersonCandidate, prefs: Preferences, weights: Ranking) -> Pick | None:
    headline, skills, location = person._headline, person._skills, person._location  # type: ignore[attr-defined]
    role, reasons = _role_match(headline, skills, prefs.roles)
    if prefs.roles and role == 0:
        return None
    place, place_reasons = _place_match(location, "remote" in location, prefs)
    level = 0.3 if prefs.seniority and prefs.seniority == person.seniority else 0.0
    reasons += place_reasons + ([f"{prefs.seniority} level"] if level else [])
    complete = 0.25 * sum((bool(person.headline), len(person.skills) >= 2, person.has_url, bool(person.location)))
    score = weights.match * (role + place + level) + weights.completeness * complete
    return Pick("person", person.id, round(score, 4), tuple(reasons))


def rank_jobs(
    jobs: Sequence[JobCandidate], prefs: Preferences, weights: Ranking, as_of: datetime, limit: int
) -> list[Pick]:
    """The top ``limit`` jobs: best score first, at most ``max_per_company`` per company,
    and one posting per (company, title) when a board lists a role twice."""
    order = {job.id: job for job in jobs}
    picks = [p for p in (score_job(j, prefs, weights, as_of) for j in jobs) if p is not None]
    picks.sort(key=lambda p: (-p.score, -order[p.id].posted_at.timestamp(), p.id))
    chosen: list[Pick] = []
    per_company: dict[str, int] = {}
    seen_roles: set[tuple[str, str]] = set()
    for pick in picks:
        job = order[pick.id]
        company, role = job.company.lower(), (job.company.lower(), job.title.lower())
        if role in seen_roles or (company and per_company.get(company, 0) >= weights.max_per_company):
            continue
        chosen.append(pick)
        seen_roles.add(role)
        per_company[company] = per_company.get(company, 0) + 1
        if len(chosen) == limit:
            break
    return chosen


def rank_people(people: Sequence[PersonCandidate], prefs: Preferences, weights: Ranking, limit: int) -> list[Pick]:
    newest = {p.id: p.joined_at.timestamp() for p in people}
    picks = [p for p in (score_person(person, prefs, weights) for person in people) if p is not None]
    picks.sort(key=lambda p: (-p.score, -newest[p.id], p.id))
    return picks[:limit]
