"""A week's candidates read once, and the vectors each role, topic, place and level gives.

Many segments share a role or a place, so each distinct one is matched against the whole pool
once and kept (numpy vectors, one value per candidate); a segment's ranking combines them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray

from digest.build import roles as model
from digest.build.candidates import JobCandidate, PersonCandidate
from digest.build.places import covers, where
from digest.build.reading import Role, job_names, spellings
from digest.build.relevance import Relevance
from digest.build.words import contains, stems
from digest.config import Ranking

DESCRIPTION_CHARS = 200  # a summary this long counts as a real description
EXACT, RELATED = 2, 1  # match tiers: related picks only fill what exact ones leave
RELATED_MATCH = 0.4
# The noun that names a free-text role ("back-end engineer"): a posting must name it (or a synonym) in its title.
_ROLE_NOUNS = {w: group for group in (("engin", "develop", "programm"), ("design",), ("manag",), ("scientist",),
               ("analyst",), ("writer",), ("architect",), ("research",), ("consult",), ("recruit",),
               ("administr",), ("market",)) for w in group}  # fmt: skip

Candidate = JobCandidate | PersonCandidate


@lru_cache(maxsize=4096)
def _place_pattern(place: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![a-z0-9]){re.escape(place)}(?![a-z0-9])")


def mentions(text: str, place: str) -> bool:
    """Whether lower-cased ``text`` names ``place`` as whole words."""
    return bool(place) and _place_pattern(place).search(text) is not None


@dataclass(frozen=True)
class RoleMatch:
    """How a pool's candidates match one of a reader's roles: a tier and a match value each."""

    role: Role
    tiers: NDArray[np.int8]
    match: NDArray[np.float64]
    via: tuple[str, ...]  # per candidate: the related family, for the reason
    mentions: NDArray[np.bool_] | None = None  # per candidate: only its description names the role
    kin: NDArray[np.bool_] | None = None  # per candidate: related by its own family (not a near miss naming it)


@dataclass(frozen=True)
class TopicMatch:
    """Where a pool's candidates say one topic: in the title (a headline), or only in the body;
    ``about``: in the title or the opening (the summary, a profile's skills), so the posting is
    about it (a mention in passing further down, or in a board's list of categories, is not)."""

    title: NDArray[np.bool_]
    body: NDArray[np.bool_]
    about: NDArray[np.bool_]


class Index:
    """A week's candidates (jobs or people) read once: roles, words, relevance, and the vectors
    each distinct role, topic, place and level gives, kept for the next segment that asks."""

    def __init__(self, items: Sequence[Candidate]) -> None:
        self.items = list(items)
        self.size = len(self.items)
        self.roles = [item.role for item in self.items]
        words = [item.words for item in self.items]
        self.title_words = [t for t, _ in words]
        self.body_words = [b for _, b in words]
        self.titles = [set(t) for t in self.title_words]
        self.bodies = [set(b) for b in self.body_words]
        self.leads = [item.lead for item in self.items]
        self.lead_sets = [set(lead) for lead in self.leads]
        self.relevance = Relevance(self.title_words, self.body_words)
        self._roles: dict[tuple[Role, frozenset[str]], RoleMatch] = {}
        self._topics: dict[str, TopicMatch] = {}
        self._places: dict[str, NDArray[np.bool_]] = {}
        self._levels: dict[int, NDArray[np.float64]] = {}
        self.levels = np.array([-9 if r.level is None else r.level for r in self.roles])
        self.remote = np.array([_is_remote(item) for item in self.items], dtype=bool)
        # a place we can read (or an office that names one): "Remote" alone says nothing of where
        self.located = np.array([where(item.location).known or (bool(item.location.strip()) and not self.remote[i])
                                 for i, item in enumerate(self.items)], dtype=bool)  # fmt: skip
        self._located = [(item.location, bool(self.remote[i])) for i, item in enumerate(self.items)]

    def role(self, role: Role, scope: frozenset[str]) -> RoleMatch:
        """The match of one reader role; related families count only inside ``scope``."""
        found = self._roles.get((role, scope))
        if found is None:
            found = self._roles[(role, scope)] = self._match(role, scope)
        return found

    def _match(self, role: Role, scope: frozenset[str]) -> RoleMatch:
        tiers = np.zeros(self.size, dtype=np.int8)
        match = np.zeros(self.size)
        via = [""] * self.size
        mentioned = np.zeros(self.size, dtype=bool)
        kin = np.zeros(self.size, dtype=bool)
        if role.family is not None:
            self._family(role, scope, tiers, match, via)
            kin = (tiers == RELATED) & np.array([bool(r.families) and not r.near_miss for r in self.roles], dtype=bool)
            query = tuple(dict.fromkeys(stems(role.label) + stems(role.family)))
        else:
            self._free_text(role.name, stems(role.name), tiers, match, via, mentioned)
            for name in job_names(role.name)[1:]:  # a title with another name of the job is the job too
                self._other_name(stems(name), tiers, match, via, mentioned)
            query = stems(role.name)
        match += 0.5 * self.relevance.of(query) * (tiers > 0)
        return RoleMatch(role, tiers, match, tuple(via), mentioned, kin)

    def _family(self, role: Role, scope: frozenset[str], tiers: NDArray[np.int8], match: NDArray[np.float64],
                via: list[str]) -> None:  # fmt: skip
        """A family of the role model: its postings exact, related families' (inside the scope) after.
        Words that narrow the role ("data" in "data product manager") must be said too."""
        narrowed = self._said(role.qualifiers) if role.qualifiers else None
        assert role.family is not None
        for i, found in enumerate(self.roles):
            if narrowed is not None and not narrowed[i]:
                continue
            if model.exact(role.family, found):
                tiers[i], match[i] = EXACT, 1.0
            elif (other := model.related(role.family, found)) is not None and other in scope:
                tiers[i], match[i], via[i] = RELATED, RELATED_MATCH, other

    def _said(self, phrases: Sequence[str]) -> NDArray[np.bool_]:
        """The candidates about every one of ``phrases`` (in the title or the opening)."""
        found = np.ones(self.size, dtype=bool)
        for phrase in phrases:
            found &= self.topic(phrase).about
        return found

    def _free_text(self, role: str, words: tuple[str, ...], tiers: NDArray[np.int8], match: NDArray[np.float64],
                   via: list[str], mentions: NDArray[np.bool_]) -> None:  # fmt: skip
        """A role outside the model: its noun ("engineer", or "developer") must be in the title,
        the rest in the title (a match) or the opening (related: "Full Stack Engineer" whose
        summary says back-end); words with no noun ("payments") in the title are a match, in the
        opening a related pick ("Mentions payments"). A near miss (a program manager, product
        marketing) is left out, unless it is what the reader asked for."""
        if not words:
            return
        noun = _ROLE_NOUNS.get(words[-1])
        rest = set(words[:-1]) if noun else set(words)
        wants_near_miss = bool(model.classify(role).near_miss)
        for i in range(self.size):
            title, body = self.titles[i], self.lead_sets[i]  # the opening: a whole description says too much
            found = self.roles[i]
            if found.near_miss and not found.families and not wants_near_miss:
                continue
            if noun is not None:
                if not title.intersection(noun):
                    continue
                if rest <= title:
                    tiers[i], match[i] = EXACT, 1.0
                elif rest <= title | body and (len(rest) < 2 or rest & title):  # "technical program": one in the title
                    tiers[i], match[i], via[i] = RELATED, RELATED_MATCH, role
            elif rest <= title:
                tiers[i], match[i] = EXACT, 1.0
            elif rest <= title | body:
                tiers[i], match[i], via[i], mentions[i] = RELATED, RELATED_MATCH, role, True

    def _other_name(self, words: tuple[str, ...], tiers: NDArray[np.int8], match: NDArray[np.float64],
                    via: list[str], mentions: NDArray[np.bool_]) -> None:  # fmt: skip
        """Titles that name the job by another of its names ("User Researcher" for a UX researcher)."""
        for i in range(self.size):
            if tiers[i] != EXACT and contains(self.title_words[i], words):
                tiers[i], match[i], via[i], mentions[i] = EXACT, 1.0, "", False

    def in_scope(self, scope: Sequence[Role]) -> NDArray[np.bool_]:
        """The candidates whose role is one the newsletter is about."""
        families = frozenset(r.family for r in scope if r.family)
        found = np.zeros(self.size, dtype=bool)
        for role in scope:
            found |= self.role(role, families).tiers == EXACT
        return found

    def topic(self, topic: str) -> TopicMatch:
        found = self._topics.get(topic)
        if found is None:
            phrases = spellings(topic)
            title = self._saying(phrases, self.title_words, self.titles)
            body = self._saying(phrases, self.body_words, self.bodies)
            lead = self._saying(phrases, self.leads, self.lead_sets)
            found = self._topics[topic] = TopicMatch(title, body & ~title, title | lead)
        return found

    def _saying(self, phrases: Sequence[tuple[str, ...]], texts: Sequence[tuple[str, ...]],
                words: Sequence[set[str]]) -> NDArray[np.bool_]:  # fmt: skip
        """Which texts say one of ``phrases``: a set lookup first, the word order only when all is there."""
        found = np.zeros(self.size, dtype=bool)
        for phrase in phrases:
            needed = set(phrase)
            for i in range(self.size):
                if not found[i] and needed <= words[i] and (len(phrase) == 1 or contains(texts[i], phrase)):
                    found[i] = True
        return found

    def place(self, place: str) -> NDArray[np.bool_]:
        """The candidates in the reader's ``place``, on site or open to it remotely (each distinct
        place a candidate gives read once)."""
        found = self._places.get(place)
        if found is None:
            seen: dict[tuple[str, bool], bool] = {}
            for key in self._located:
                if key not in seen:
                    seen[key] = mentions(key[0].lower(), place) or covers(place, key[0], key[1])
            found = self._places[place] = np.array([seen[key] for key in self._located], dtype=bool)
        return found

    def level(self, wanted: int) -> NDArray[np.float64]:
        """0.3 for the reader's level, 0.1 for the one next to it."""
        found = self._levels.get(wanted)
        if found is None:
            distance = np.abs(self.levels - wanted)
            found = self._levels[wanted] = np.where(distance == 0, 0.3, np.where(distance == 1, 0.1, 0.0))
        return found


def _is_remote(item: Candidate) -> bool:
    return item.remote if isinstance(item, JobCandidate) else "remote" in item.location.lower()


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


class PeopleIndex(Index):
    """A week's people, with their completeness scored once."""

    def __init__(self, people: Sequence[PersonCandidate], weights: Ranking) -> None:
        super().__init__(people)
        self.people = list(people)
        complete = [0.25 * sum((bool(p.headline), len(p.skills) >= 2, p.has_url, bool(p.location))) for p in people]
        self.base = weights.completeness * np.array(complete)
        self.newest = np.array([p.joined_at.timestamp() for p in people])
        self.ids = np.array([p.id for p in people])
