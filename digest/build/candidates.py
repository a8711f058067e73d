"""What the ranking ranks and what it hands on: a week's candidates (jobs and people, as the
ranking reads them) and the picks frozen in a segment. Plain data; no database here."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any

from digest.build import roles as model
from digest.build.pay import PayVerdict, verdict
from digest.build.words import stems


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
    text: str = ""  # the whole description as plain text (the summary stands in when there is none)

    @cached_property
    def role(self) -> model.RoleOf:
        return model.classify(self.title, self.body[:600])

    @cached_property
    def words(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """Stemmed title and body (the whole description, for topics and relevance)."""
        return stems(self.title), stems(self.text or self.body)

    @cached_property
    def lead(self) -> tuple[str, ...]:
        """Stemmed words of its opening (the summary and tags): what a posting is about says there."""
        return stems(self.body)

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
    def lead(self) -> tuple[str, ...]:
        return self.words[1]

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

    @property
    def tier(self) -> str:
        """How the pick came: "exact" (the reader's own role), "related", or "filler" (the scope's
        best, filling an email that had too few of the reader's own)."""
        return str(dict(self.detail).get("tier", "exact"))

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
