"""Explainable ranking: every pick carries its score and the reasons behind it.

score = freshness x w_freshness + match x w_match + completeness x w_completeness
        + (source weight - 1) x w_source_weight

A reader who names roles only gets jobs (and people) that match one of them; location,
remote and seniority raise a match but do not exclude. Pure functions: no database here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property, lru_cache
from typing import Any

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

    # lower-cased once, not once per segment
    @cached_property
    def title_lc(self) -> str:
        return self.title.lower()

    @cached_property
    def body_lc(self) -> str:
        return self.body.lower()

    @cached_property
    def location_lc(self) -> str:
        return self.location.lower()

    @cached_property
    def posted(self) -> float:
        return self.posted_at.timestamp()


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
    def headline_lc(self) -> str:
        return self.headline.lower()

    @cached_property
    def skills_lc(self) -> str:
        return " ; ".join(self.skills).lower()

    @cached_property
    def location_lc(self) -> str:
        return self.location.lower()


@dataclass(frozen=True)
class Pick:
    """One ranked item of a segment: the hand-off from the build to the renderer, frozen in
    ``segment.picks`` as JSON (``to_json``, read back with ``picks_of``)."""

    kind: str  # job | person
    id: int
    score: float
    reasons: tuple[str, ...]

    def to_json(self) -> dict[str, object]:
        return {"kind": self.kind, "id": self.id, "score": self.score, "reasons": list(self.reasons)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Pick:
        return cls(str(data["kind"]), int(data["id"]), float(data.get("score", 0.0)), tuple(data.get("reasons", ())))


def picks_of(frozen: Iterable[Mapping[str, Any]]) -> list[Pick]:
    """A segment's frozen picks (``segment.picks``), typed."""
    return [Pick.from_json(item) for item in frozen]


@lru_cache(maxsize=4096)
def _pattern(term: str) -> re.Pattern[str]:
    variants = ALIASES.get(term, (term,))
    alternatives = "|".join(re.escape(v) for v in sorted(variants, key=len, reverse=True))
    return re.compile(rf"(?<![a-z0-9])(?:{alternatives})(?![a-z0-9])")


@lru_cache(maxsize=200_000)  # segments share terms and items: each pair is searched once
def mentions(text: str, term: str) -> bool:
    """Whether lower-cased ``text`` names ``term`` (or a common alias of it) as whole words."""
    return bool(term) and _pattern(term).search(text) is not None


def _role_match(title: str, body: str, roles: Iterable[str], reasons: list[str] | None) -> float:
    """1 for a role named in the title, 0.5 in the body; each further role adds a quarter."""
    best, found = 0.0, 0
    for role in roles:
        if mentions(title, role):
            best, found = 1.0, found + 1
            if reasons is not None:
                reasons.append(f'matches "{role}"')
        elif mentions(body, role):
            best, found = max(best, 0.5), found + 1
            if reasons is not None:
                reasons.append(f'mentions "{role}"')
    return best + 0.25 * (found - 1) if found else 0.0


def _place_match(location: str, remote: bool, prefs: Preferences, reasons: list[str] | None) -> float:
    score = 0.0
    if prefs.remote and remote:
        score += 0.5
        if reasons is not None:
            reasons.append("remote")
    for place in prefs.locations:
        if mentions(location, place):
            score += 0.5
            if reasons is not None:
                reasons.append(f"in {place.title()}")
            break
    return score


def score_job(job: JobCandidate, prefs: Preferences, weights: Ranking, as_of: datetime) -> Pick | None:
    """The job's pick for this reader, or None when it matches none of the reader's roles."""
    reasons: list[str] = []
    score = _job_score(job, prefs, weights, as_of, reasons)
    return None if score is None else Pick("job", job.id, score, tuple(reasons))


def _job_score(
    job: JobCandidate, prefs: Preferences, weights: Ranking, as_of: datetime, reasons: list[str] | None
) -> float | None:
    """The score alone (``reasons`` None) or with its reasons appended: ranking scores every
    job for every segment but explains only the few it picks."""
    title, body, location = job.title_lc, job.body_lc, job.location_lc
    role = _role_match(title, body, prefs.roles, reasons)
    if prefs.roles and role == 0:
        return None
    place = _place_match(location, job.remote, prefs, reasons)
    level = 0.3 if prefs.seniority and mentions(title, prefs.seniority) else 0.0
    if level and reasons is not None:
        reasons.append(f"{prefs.seniority} level")
    complete = _job_completeness(job, reasons)
    age_days = max(0.0, (as_of - job.posted_at).total_seconds() / 86400)
    freshness: float = 0.5 ** (age_days / weights.half_life_days)
    score = (
        weights.freshness * freshness
        + weights.match * (role + place + level)
        + weights.completeness * complete
        + weights.source_weight * (job.source_weight - 1.0)
    )
    return round(score, 4)


def _job_completeness(job: JobCandidate, reasons: list[str] | None) -> float:
    score = 0.0
    if job.has_salary:
        score += 0.4
        if reasons is not None:
            reasons.append("salary listed")
    if job.location:
        score += 0.2
    if job.summary_chars >= DESCRIPTION_CHARS:
        score += 0.4
    return score


def score_person(person: PersonCandidate, prefs: Preferences, weights: Ranking) -> Pick | None:
    headline, skills, location = person.headline_lc, person.skills_lc, person.location_lc
    reasons: list[str] = []
    role = _role_match(headline, skills, prefs.roles, reasons)
    if prefs.roles and role == 0:
        return None
    place = _place_match(location, "remote" in location, prefs, reasons)
    level = 0.3 if prefs.seniority and prefs.seniority == person.seniority else 0.0
    if level:
        reasons.append(f"{prefs.seniority} level")
    complete = 0.25 * sum((bool(person.headline), len(person.skills) >= 2, person.has_url, bool(person.location)))
    score = weights.match * (role + place + level) + weights.completeness * complete
    return Pick("person", person.id, round(score, 4), tuple(reasons))


def rank_jobs(
    jobs: Sequence[JobCandidate], prefs: Preferences, weights: Ranking, as_of: datetime, limit: int
) -> list[Pick]:
    """The top ``limit`` jobs: best score first, at most ``max_per_company`` per company,
    and one posting per (company, title) when a board lists a role twice."""
    scored = [(s, j) for j in jobs if (s := _job_score(j, prefs, weights, as_of, None)) is not None]
    scored.sort(key=lambda pair: (-pair[0], -pair[1].posted, pair[1].id))
    chosen: list[Pick] = []
    per_company: dict[str, int] = {}
    seen_roles: set[tuple[str, str]] = set()
    for _, job in scored:
        company, role = job.company.lower(), (job.company.lower(), job.title.lower())
        if role in seen_roles or (company and per_company.get(company, 0) >= weights.max_per_company):
            continue
        pick = score_job(job, prefs, weights, as_of)
        assert pick is not None
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
