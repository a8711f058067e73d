"""Explainable ranking: every pick carries its score and the reasons behind it, in plain words.

score = freshness x w_freshness + match x w_match + completeness x w_completeness
        + (source weight - 1) x w_source_weight
match = role (1 for the reader's role, 0.4 for a related one, + 0.5 x text relevance)
        + topic (0.5 named in the title, 0.25 in the body) + place (remote, location)
        + level (the reader's seniority)

A reader's terms are read as roles and topics (``digest.build.reading``). The postings (and
people) of the reader's roles come first, those that say the reader's topics before the rest;
when they run out, related roles inside the newsletter's scope fill the email, shown as such
("Close to your roles: product leadership"). A topic never brings in a job of another family:
a reader with topics and no role gets the scope narrowed by them, a reader with neither the
whole scope. "Remote only" and "on site" are kept; places keep what is there or open to them
remotely; a posting two levels or more from the reader's is left out. Roles are read by the
role model (``digest.build.roles``), text relevance by BM25 (``digest.build.relevance``).
Pure functions over candidates: no database here.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

import numpy as np
from numpy.typing import NDArray

from digest.build import roles as model
from digest.build.candidates import JobCandidate, PersonCandidate, Pick, picks_of
from digest.build.index import EXACT, RELATED, Index, JobIndex, PeopleIndex, RoleMatch, TopicMatch
from digest.build.places import REMOTE_WORDS
from digest.build.reading import PRODUCT_SCOPE, Reading, Role, read_terms, topic_query
from digest.config import Ranking
from digest.preferences import Preferences

LEVEL_GAP = 2  # a posting this many levels from the reader's is not for them ("Intern" for a senior, "VP" for a mid)


@dataclass
class Scored:
    """One reader's view of a pool: each candidate's tier (0: not for them), whether it is about
    one of their topics (2 its title says so, 1 its opening or more than one mention), its score
    and the parts of the score."""

    reading: Reading
    tiers: NDArray[np.int8]
    kin: NDArray[np.bool_]  # related by family (a PM for a TPM), not a near miss that names the reader's role
    placed: NDArray[np.bool_]  # in one of the reader's places, or open to them (not merely of no known place)
    said: NDArray[np.int8]
    scores: NDArray[np.float64]
    parts: dict[str, NDArray[np.float64]]
    matches: list[RoleMatch]
    topics: list[tuple[str, TopicMatch]]

    def order(self, *later: NDArray[np.float64]) -> NDArray[np.intp]:
        """The candidates for the reader (tier above 0), best first (``ranked``'s order)."""
        chosen = np.flatnonzero(self.tiers > 0)
        return chosen[self.ranked(*(key[chosen] for key in later), among=chosen)]

    def ranked(self, *later: NDArray[np.float64], among: NDArray[np.intp]) -> NDArray[np.intp]:
        """Candidates best first: the reader's roles about their topics, then (as good) their
        roles without them and related families whose titles say them, then the rest of the
        related; within
        each, what is in the reader's places before what names no place, a topic in the title
        before one in the opening, then score, then ``later`` keys."""
        tiers, said = self.tiers[among], self.said[among]
        titled = (said == 2).astype(np.float64)  # a related family counts as good only when its title says it
        fit = tiers + np.where(tiers == EXACT, (said > 0).astype(np.float64), np.where(self.kin[among], titled, 0.0))
        keys: list[NDArray[np.float64]] = [*later, -self.scores[among], -said.astype(np.float64),
                                           -self.placed[among].astype(np.float64), -fit.astype(np.float64)]  # fmt: skip
        return np.lexsort(keys)


def score_all(
    index: Index, prefs: Preferences, weights: Ranking, base: NDArray[np.float64],
    scope: Sequence[Role] = PRODUCT_SCOPE, hiring: bool = False,
) -> Scored:  # fmt: skip
    """Every candidate's tier and score for one reader, as vectors. ``hiring``: ranking people
    for a reader who hires (their places keep people there; a job seeker's only order them)."""
    reading = read_terms(prefs.roles)
    families = frozenset(r.family for r in scope if r.family)
    matches = [index.role(role, families) for role in reading.roles]
    if matches:
        tiers = np.max([m.tiers for m in matches], axis=0)
        kin = np.any([m.kin for m in matches if m.kin is not None], axis=0) if matches else np.zeros(index.size, bool)
        role = np.max([m.match for m in matches], axis=0)
        role = role + 0.25 * np.maximum(0, sum((m.tiers == EXACT).astype(np.float64) for m in matches) - 1)
    else:  # no roles named: the newsletter's scope
        in_scope = index.in_scope(scope)
        tiers = np.where(in_scope, EXACT, 0).astype(np.int8)
        kin = np.zeros(index.size, dtype=bool)
        role = in_scope.astype(np.float64)
    topics = [(topic, index.topic(topic)) for topic in reading.topics]
    said = np.zeros(index.size, dtype=np.int8)
    topic = np.zeros(index.size)
    for name, found in topics:
        said = np.maximum(said, np.where(found.title, 2, np.where(found.about, 1, 0)).astype(np.int8))
        strength = index.relevance.of(topic_query(name)) * (found.title | found.body)
        topic = np.maximum(topic, 0.5 * found.title + strength)
    if topics and not matches:  # topics alone narrow the scope
        tiers = np.where(said > 0, tiers, 0).astype(np.int8)
    places = np.logical_or.reduce([index.place(p) for p in prefs.locations]) if prefs.locations else None
    place = 0.5 * index.remote if prefs.remote else np.zeros(index.size)
    if places is not None:
        place = place + 0.5 * places
    wanted = _level_wanted(prefs, reading)
    level = index.level(wanted) if wanted is not None else np.zeros(index.size)
    kept = _kept(index, prefs, wanted, places, jobs=isinstance(index, JobIndex) or hiring)
    tiers = np.where(kept, tiers, 0).astype(np.int8)
    scores = np.round(base + weights.match * (role + topic + place + level), 4)
    parts = {"role": role, "topic": topic, "place": place, "level": level}
    placed = places if places is not None else np.ones(index.size, dtype=bool)
    return Scored(reading, tiers, kin, placed, said, scores, parts, matches, topics)


def _level_wanted(prefs: Preferences, reading: Reading) -> int | None:
    """The reader's level: their seniority, else one said in a role ("senior product designer")."""
    chosen = model.reader_level(prefs.seniority)
    return chosen if chosen is not None else reading.level


def _kept(
    index: Index, prefs: Preferences, wanted: int | None, places: NDArray[np.bool_] | None, jobs: bool
) -> NDArray[np.bool_]:
    """What the reader's choices leave in: a posting two levels or more from theirs is out (an
    intern's for a senior, a director's for a mid-level reader); for jobs (and people a reader
    hires), "remote only", "on site" and places are kept to (a posting that names no place and
    is not marked remote stays for "remote only": it may be; it comes after those that are)."""
    kept = np.ones(index.size, dtype=bool)
    if wanted is not None:
        kept &= ~((index.levels >= 0) & (np.abs(index.levels - wanted) >= LEVEL_GAP))
    if not jobs:
        return kept
    if prefs.remote is not None and isinstance(index, JobIndex):  # a reader's remote choice is about jobs
        kept &= (index.remote | ~index.located) if prefs.remote else ~index.remote  # (no place: it may be remote)
    if places is not None:
        kept &= places | ~index.located
    return kept


def rank_jobs(
    jobs: Sequence[JobCandidate] | JobIndex, prefs: Preferences, weights: Ranking, as_of: datetime, limit: int,
    scope: Sequence[Role] = PRODUCT_SCOPE,
) -> list[Pick]:  # fmt: skip
    """The top ``limit`` jobs: the reader's roles first (those that say their topics before the
    rest), best score first, then related roles; at most ``max_per_company`` per company, and
    one posting per (company, title) when a board lists a role twice. ``jobs`` may be a
    JobIndex built once for many readers."""
    index = jobs if isinstance(jobs, JobIndex) else JobIndex(jobs, weights, as_of)
    if not index.size or limit <= 0:
        return []
    scored = score_all(index, prefs, weights, index.base, scope)
    chosen: list[Pick] = []
    per_company: dict[str, int] = {}
    seen_roles: set[tuple[str, str]] = set()
    for i in scored.order(index.ids, -index.posted):
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


def rank_people(
    people: Sequence[PersonCandidate] | PeopleIndex, prefs: Preferences, weights: Ranking, limit: int,
    scope: Sequence[Role] = PRODUCT_SCOPE,
) -> list[Pick]:  # fmt: skip
    """The top ``limit`` people by the same model: a hiring reader's (people only) the roles they
    hire for, a job seeker's their peers; then related roles."""
    index = people if isinstance(people, PeopleIndex) else PeopleIndex(people, weights)
    if not index.size or limit <= 0:
        return []
    hiring = prefs.audience == "people"
    scored = score_all(index, prefs, weights, index.base, scope, hiring)
    order = scored.order(index.ids, -index.newest)
    return [_explain(index, scored, int(i), "person", prefs) for i in order[:limit]]


def as_filler(picks: Sequence[Pick]) -> list[Pick]:
    """Picks from the scope's best that fill a thin email, marked so and with a plain reason."""
    return [replace(p, reasons=(_FILLER[p.kind],), detail=(("tier", "filler"), *p.detail[1:])) for p in picks]


_FILLER = {"job": "One of this week's top picks", "person": "One of this week's people to meet"}


def _explain(index: Index, scored: Scored, i: int, kind: str, prefs: Preferences) -> Pick:
    """The pick of candidate ``i`` with its reasons in plain words and the parts of its score.
    Reasons say why it was picked (role, topic, place, remote, level), never facts about the job."""
    item = index.items[i]
    reasons = [_role_reason(index, scored, i, kind, prefs)]
    reasons += _topic_reasons(scored, i, kind)
    place = next((p for p in prefs.locations if index.place(p)[i]), None)
    if index.remote[i] and (prefs.remote or place in REMOTE_WORDS):
        reasons.append("Remote")
    if place and place not in REMOTE_WORDS:
        reasons.append(_place_reason(place, item.location, bool(index.remote[i])))
    level = index.roles[i].level
    if scored.parts["level"][i] >= 0.3 and level is not None:
        reasons.append(f"{model.LEVEL_NAMES[level].capitalize()} level")
    detail: list[tuple[str, float | str]] = [("tier", "exact" if scored.tiers[i] == EXACT else "related")]
    detail += [(name, round(float(values[i]), 3)) for name, values in scored.parts.items()]
    if isinstance(index, JobIndex):
        detail += [("fresh", round(float(index.fresh[i]), 3)), ("complete", round(float(index.complete[i]), 3))]
        if isinstance(item, JobCandidate) and item.pay.words:
            detail.append(("pay", item.pay.words.removeprefix("pay ")))
    return Pick(kind, item.id, float(scored.scores[i]), tuple(r for r in reasons if r), tuple(detail))


def _role_reason(index: Index, scored: Scored, i: int, kind: str, prefs: Preferences) -> str:
    exact = [m.role.label for m in scored.matches if m.tiers[i] == EXACT]
    if exact:
        if kind == "person":
            return ("Hiring for: " if prefs.audience == "people" else "A peer: ") + ", ".join(exact)
        return "Matches your roles: " + ", ".join(exact)
    related = next((m for m in scored.matches if m.tiers[i] == RELATED), None)
    if related is not None:
        mentioned = related.mentions is not None and related.mentions[i]
        return f"Mentions {related.via[i]}" if mentioned else f"Close to your roles: {related.via[i]}"
    if kind == "person":
        return _family_words(index.roles[i]).capitalize()
    return "Product role: " + _family_words(index.roles[i])


def _topic_reasons(scored: Scored, i: int, kind: str) -> list[str]:
    titled = [name for name, found in scored.topics if found.about[i]]  # in its title or opening
    bodied = [name for name, found in scored.topics if found.body[i] and not found.about[i]]
    reasons = []
    if titled:
        reasons.append(("Works on " if kind == "person" else "About ") + ", ".join(titled))
    if bodied:
        reasons.append(("Knows " if kind == "person" else "Mentions ") + ", ".join(bodied))
    return reasons


def _family_words(role: model.RoleOf) -> str:
    order = [f for f in (model.TPM, model.PM, model.DESIGNER, model.OPERATIONS, model.LEADERSHIP) if f in role.families]
    return order[0] if order else "product"


def _place_reason(place: str, location: str, remote: bool) -> str:
    """ "In UK" with the place as the posting writes it; "In Europe" for an office in the reader's
    region; "Open to London" for a posting elsewhere, remote, open to the reader's place."""
    found = re.search(rf"(?<![A-Za-z0-9]){re.escape(place)}(?![A-Za-z0-9])", location, re.IGNORECASE)
    if found:
        return f"In {found.group(0)}"
    return ("Open to " if remote else "In ") + (place.upper() if place in _ACRONYMS else place.title())


_ACRONYMS = frozenset({"uk", "us", "usa", "eu", "emea", "apac", "latam", "uae", "nyc", "dach", "amer", "anz"})


__all__ = [
    "EXACT", "RELATED", "JobCandidate", "JobIndex", "PeopleIndex", "PersonCandidate", "Pick", "Scored", "as_filler",
    "picks_of", "rank_jobs", "rank_people", "score_all",
]  # fmt: skip
