"""``digest build --explain``: every segment's picks, with scores and reasons, as text lines."""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import Engine
from sqlmodel import col, select

from digest.build.issue import find_issue
from digest.build.ranking import picks_of
from digest.build.reading import read_terms
from digest.db import session_scope
from digest.models import Job, Profile, Segment
from digest.preferences import Preferences


def describe_preferences(prefs: Preferences) -> str:
    """A segment's preferences, its terms as they were read ("roles: technical product manager;
    topics: api, platform")."""
    reading = read_terms(prefs.roles, prefs.seniority)
    parts = [reading.describe()] if reading.roles or reading.topics or reading.level is not None else []
    if prefs.locations:
        parts.append("locations: " + ", ".join(prefs.locations))
    if prefs.remote is not None:
        parts.append("remote: " + ("yes" if prefs.remote else "no"))
    if prefs.seniority:
        parts.append("seniority: " + prefs.seniority)
    parts.append("audience: " + prefs.audience)
    return "; ".join(parts)


def explain_issue(engine: Engine, week: str) -> Iterator[str]:
    issue = find_issue(engine, week)
    with session_scope(engine) as session:
        segments = session.exec(select(Segment).where(Segment.issue_id == issue.id).order_by(col(Segment.id))).all()
        jobs = {j.id: j for j in session.exec(select(Job))}
        people = {p.id: p for p in session.exec(select(Profile))}
    for number, segment in enumerate(segments, start=1):
        yield f"Segment {number} ({describe_preferences(Preferences.from_json(segment.preferences))})"
        if segment.skip_reason:
            yield f"   not mailed this week: {segment.skip_reason.removeprefix('thin: ')}"
        elif not segment.picks:
            yield "   nothing matches these preferences this week"
        for rank, pick in enumerate(picks_of(segment.picks), start=1):
            if pick.kind == "job":
                job = jobs[pick.id]
                label = f"job     {job.title}" + (f" at {job.company}" if job.company else "")
            else:
                label = f"person  {people[pick.id].name}"
            reasons = " · ".join(pick.reasons) or "new this week"
            label += "  (filling a thin email)" if pick.tier == "filler" else ""
            parts = ", ".join(f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}" for k, v in pick.detail)
            yield f"  {rank:2d}. {label}  [score {pick.score:.2f}" + (f" ({parts})" if parts else "") + f": {reasons}]"
