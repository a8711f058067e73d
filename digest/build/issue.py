"""Building an issue: pick what is new since the previous issue, rank it once per segment,
and freeze the result, so rendering, resuming or re-sending the week gives the same content."""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, func, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from digest.build.ranking import (
    JobCandidate,
    JobIndex,
    PeopleIndex,
    PersonCandidate,
    Pick,
    as_filler,
    picks_of,
    rank_jobs,
    rank_people,
)
from digest.build.reading import Role, read_scope, read_terms, scope_of
from digest.build.roles import LEVEL_NAMES
from digest.config import Config, Ranking
from digest.db import database_errors, session_scope
from digest.errors import InputError
from digest.models import Issue, IssueItem, Job, JobSource, Profile, Segment, Source, Subscriber
from digest.preferences import Preferences
from digest.timeutil import utcnow
from digest.weeks import following, parse_week, week_of

FIRST_WINDOW = timedelta(days=7)
Progress = Callable[[int, int], None] | None  # (segments ranked, segments in all)


@dataclass
class BuildReport:
    week: str
    status: str  # built | skipped
    jobs: int
    people: int
    segments: int
    already_built: bool = False
    note: str = ""
    window: tuple[datetime, datetime] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "week": self.week,
            "jobs": self.jobs,
            "people": self.people,
            "segments": self.segments,
            "status": self.status,
            "already_built": self.already_built,
            "note": self.note,
        }


@dataclass(frozen=True)
class BuildSettings:
    """What building an issue uses of the configuration, and nothing else."""

    tz: ZoneInfo
    min_items: int
    jobs_per_email: int
    people_per_email: int
    ranking: Ranking
    source_weights: dict[str, float]
    scope: tuple[Role, ...] = ()
    min_picks: int = 3
    below_min_picks: str = "fill"

    @classmethod
    def of(cls, config: Config) -> BuildSettings:
        """The build's settings; ConfigError when ``newsletter.scope`` names a topic, not a role."""
        newsletter = config.newsletter
        scope = scope_of(config)
        return cls(newsletter.tz, newsletter.min_items, newsletter.jobs_per_email, newsletter.people_per_email,
                   config.file.ranking, {s.name: s.weight for s in config.sources}, scope, newsletter.min_picks,
                   newsletter.below_min_picks)  # fmt: skip


@dataclass
class Pool:
    """An issue's frozen candidates, as the ranking sees them."""

    jobs: list[JobCandidate] = field(default_factory=list)
    people: list[PersonCandidate] = field(default_factory=list)
    _indexes: dict[datetime, JobIndex] = field(default_factory=dict, repr=False)
    _people: PeopleIndex | None = field(default=None, repr=False)
    best: dict[tuple[Any, ...], tuple[list[Pick], list[Pick]]] = field(default_factory=dict, repr=False)

    def people_index(self, settings: BuildSettings) -> PeopleIndex:
        if self._people is None:
            self._people = PeopleIndex(self.people, settings.ranking)
        return self._people

    def job_index(self, settings: BuildSettings, as_of: datetime) -> JobIndex:
        """The jobs read once for every segment of the issue (roles, words, relevance, base scores)."""
        found = self._indexes.get(as_of)
        if found is None:
            found = self._indexes[as_of] = JobIndex(self.jobs, settings.ranking, as_of)
        return found


def build_issue(
    engine: Engine, config: Config, week: str | None = None, now: datetime | None = None, progress: Progress = None
) -> BuildReport:
    """Build and freeze the issue for ``week`` (default: this week); an existing one is returned
    as is. ``progress(done, total)`` follows the segments as they are ranked."""
    now = now or utcnow()
    week = parse_week(week) if week else week_of(now, config.newsletter.tz)
    try:
        with session_scope(engine) as session:
            existing = session.exec(select(Issue).where(Issue.week == week)).first()
            if existing is not None:
                return _report(session, existing, already_built=True)
            check_buildable(week, now, config.newsletter.tz)
            issue = _freeze(session, BuildSettings.of(config), week, now, progress)
            return _report(session, issue)
    except IntegrityError:  # another process built the same week at the same moment
        with session_scope(engine) as session:
            return _report(session, session.exec(select(Issue).where(Issue.week == week)).one(), already_built=True)


def check_buildable(week: str, now: datetime, tz: ZoneInfo) -> None:
    """An issue is frozen from what is new now: only this week's or the next one (an operator
    building ahead) may be built. A past or far week would be filled with today's items."""
    current = week_of(now, tz)
    ahead = following(current)
    if week not in (current, ahead):
        when = "has passed" if week < current else "is more than a week ahead"
        raise InputError(f"--week {week} {when}: an issue is built from what is new now, so only this "
                         f"week ({current}) or the next ({ahead}) can be built")  # fmt: skip


def would_build(engine: Engine, config: Config, week: str, now: datetime | None = None) -> BuildReport:
    """What building ``week`` now would freeze, without storing anything (a dry run)."""
    now = now or utcnow()
    with database_errors(), Session(engine) as session:
        try:
            issue = _freeze(session, BuildSettings.of(config), parse_week(week), now)
            return _report(session, issue)
        finally:
            session.rollback()


def _report(session: Session, issue: Issue, already_built: bool = False) -> BuildReport:
    segments = session.exec(select(func.count()).select_from(Segment).where(Segment.issue_id == issue.id)).one()
    return BuildReport(
        issue.week, issue.status, issue.jobs, issue.people, segments, already_built, issue.note,
        (issue.window_start, issue.window_end),
    )  # fmt: skip


def _freeze(session: Session, settings: BuildSettings, week: str, now: datetime, progress: Progress = None) -> Issue:
    start = _window_start(session, now)
    jobs = _new_jobs(session, start, now)
    people = _new_people(session, start, now)
    issue = Issue(week=week, built_at=now, window_start=start, window_end=now, jobs=len(jobs), people=len(people))
    minimum = max(1, settings.min_items)
    if len(jobs) + len(people) < minimum:
        issue.status = "skipped"
        issue.note = f"only {len(jobs)} new job(s) and {len(people)} new people since {start:%Y-%m-%d %H:%M} UTC"
        session.add(issue)
        session.flush()
        return issue
    session.add(issue)
    session.flush()
    assert issue.id is not None
    session.add_all(IssueItem(issue_id=issue.id, kind="job", item_id=i) for i in jobs)
    session.add_all(IssueItem(issue_id=issue.id, kind="person", item_id=i) for i in people)
    session.flush()
    pool = load_pool(session, settings, issue)
    featured: set[tuple[str, int]] = set()
    segments = reader_preferences(session)
    for done, prefs in enumerate(segments, 1):
        featured.update(_picked(_add_segment(session, settings, issue, pool, prefs)))
        if progress is not None:
            progress(done, len(segments))
    _mark_featured(session, issue.id, featured)
    return issue


def _window_start(session: Session, now: datetime) -> datetime:
    """Since the previous issue that was built (a skipped week rolls its items over)."""
    last = session.exec(select(func.max(Issue.built_at)).where(Issue.status == "built")).one()
    return last if last is not None else now - FIRST_WINDOW


def _featured_before(kind: str) -> Any:
    return select(IssueItem.item_id).join(Issue).where(IssueItem.kind == kind, Issue.status == "built")


def _new_jobs(session: Session, start: datetime, end: datetime) -> list[int]:
    posted = func.coalesce(Job.published_at, Job.first_seen_at)
    query = select(Job.id).where(posted > start, posted <= end, col(Job.id).not_in(_featured_before("job")))
    return [i for i in session.exec(query.order_by(col(Job.id))) if i is not None]


def _new_people(session: Session, start: datetime, end: datetime) -> list[int]:
    joined = func.coalesce(Profile.created_at, Profile.first_seen_at)
    query = select(Profile.id).where(
        Profile.public == True,  # noqa: E712  (SQL, not Python)
        joined > start,
        joined <= end,
        col(Profile.id).not_in(_featured_before("person")),
    )
    return [i for i in session.exec(query.order_by(col(Profile.id))) if i is not None]


def reader_preferences(session: Session) -> list[Preferences]:
    """One Preferences per segment among readers who may be mailed (active ones)."""
    one_per_segment = (
        select(func.min(Subscriber.id)).where(Subscriber.status == "active").group_by(col(Subscriber.segment_key))
    )
    readers = session.exec(select(Subscriber).where(col(Subscriber.id).in_(one_per_segment))).all()
    found = {r.segment_key: r.preferences for r in sorted(readers, key=lambda r: r.segment_key)}
    return list(found.values()) or [Preferences()]


def load_pool(session: Session, settings: BuildSettings, issue: Issue) -> Pool:
    job_ids = select(IssueItem.item_id).where(IssueItem.issue_id == issue.id, IssueItem.kind == "job")
    person_ids = select(IssueItem.item_id).where(IssueItem.issue_id == issue.id, IssueItem.kind == "person")
    weights = _source_weights(session, settings, job_ids)
    jobs = [
        _job_candidate(j, weights.get(j.id or 0, 1.0))
        for j in session.exec(select(Job).where(col(Job.id).in_(job_ids)))
    ]
    people = [_person_candidate(p) for p in session.exec(select(Profile).where(col(Profile.id).in_(person_ids)))]
    return Pool(sorted(jobs, key=lambda j: j.id), sorted(people, key=lambda p: p.id))


def _source_weights(session: Session, settings: BuildSettings, job_ids: Any) -> dict[int, float]:
    configured = settings.source_weights
    rows = session.exec(
        select(JobSource.job_id, Source.name).join(Source).where(col(JobSource.job_id).in_(job_ids))
    ).all()
    weights: dict[int, float] = {}
    for job_id, name in rows:
        weights[job_id] = max(weights.get(job_id, 0.0), configured.get(name, 1.0))
    return weights


def _job_candidate(job: Job, weight: float) -> JobCandidate:
    assert job.id is not None
    return JobCandidate(
        id=job.id, title=job.title, company=job.company, location=job.location, remote=job.remote,
        has_salary=job.salary_min is not None, body=f"{job.summary} {' '.join(job.tags)}",
        summary_chars=len(job.summary), posted_at=job.posted_at, source_weight=weight,
        salary_low=job.salary_min, salary_high=job.salary_max, currency=job.salary_currency,
        text=f"{_words_of(job.html) if job.html else job.summary} {' '.join(job.tags)}",
    )  # fmt: skip


_TAG = re.compile(r"<[^>]*>")


def _words_of(fragment: str) -> str:
    """A description's words for matching (its sanitised HTML without tags): cheaper than the
    reader-facing text ``digest.text.html_to_text`` makes, and the words are the same."""
    return html.unescape(_TAG.sub(" ", fragment))


def _person_candidate(profile: Profile) -> PersonCandidate:
    assert profile.id is not None
    return PersonCandidate(
        id=profile.id, name=profile.name, headline=profile.headline, location=profile.location,
        skills=tuple(profile.skills), seniority=profile.seniority, has_url=bool(profile.url),
        joined_at=profile.joined_at,
    )  # fmt: skip


@dataclass(frozen=True)
class Ranked:
    """A segment's email as ranked: its picks (the reader's own first, then any filler), or the
    reason it is not sent this week."""

    picks: list[Pick]
    skip_reason: str = ""


def rank_segment(settings: BuildSettings, pool: Pool, prefs: Preferences, as_of: datetime) -> Ranked:
    """The segment's picks. Fewer of the reader's own than ``min_picks``: topped up with the
    scope's best (labelled as such; as far as the week allows), or skipped, as ``below_min_picks``
    says; an email with nothing in it is never sent."""
    jobs, people = _own_picks(settings, pool, prefs, as_of)
    own, least = len(jobs) + len(people), max(1, settings.min_picks)
    few = f"{own} pick{'' if own == 1 else 's'} for their choices this week, fewer than {least}"
    if settings.below_min_picks == "skip":
        return Ranked(jobs + people, "" if own >= least else f"thin: {few}")
    more_jobs = prefs.wants_jobs and len(jobs) < least  # each part the reader wants, topped up on its own
    more_people = prefs.wants_people and len(people) < least
    if not (more_jobs or more_people):
        return Ranked(jobs + people)
    taken = {(p.kind, p.id) for p in jobs + people}
    filler = _filler(settings, pool, prefs, as_of, taken, len(jobs) if more_jobs else None,
                     len(people) if more_people else None)  # fmt: skip
    if not own and not filler:
        return Ranked([], "thin: nothing this week")
    return Ranked(jobs + [p for p in filler if p.kind == "job"] + people + [p for p in filler if p.kind == "person"])


def _own_picks(
    settings: BuildSettings, pool: Pool, prefs: Preferences, as_of: datetime
) -> tuple[list[Pick], list[Pick]]:
    weights, scope = settings.ranking, settings.scope or read_scope([])
    jobs = (rank_jobs(pool.job_index(settings, as_of), prefs, weights, as_of, settings.jobs_per_email, scope)
            if prefs.wants_jobs else [])  # fmt: skip
    people = (rank_people(pool.people_index(settings), prefs, weights, settings.people_per_email, scope)
              if prefs.wants_people else [])  # fmt: skip
    return jobs, people


def _filler(settings: BuildSettings, pool: Pool, prefs: Preferences, as_of: datetime, taken: set[tuple[str, int]],
            jobs: int | None, people: int | None) -> list[Pick]:  # fmt: skip
    """The scope's best for this reader's places, remote and level, not already picked, to top
    up the parts of their email that are short (``jobs``, ``people``: how many they have; None:
    that part is not topped up)."""
    said = read_terms(prefs.roles).level  # "senior product designer" gets no intern as filler either
    level = prefs.seniority or (LEVEL_NAMES[said].split("/")[0] if said is not None else "")
    key = (as_of, prefs.locations, prefs.remote, level, prefs.audience)  # many thin segments share these
    found = pool.best.get(key)
    if found is None:
        general = Preferences.of((), prefs.locations, prefs.remote, level, prefs.audience)
        found = pool.best[key] = _own_picks(settings, pool, general, as_of)
    more_jobs, more_people = found
    fresh_jobs = [p for p in more_jobs if (p.kind, p.id) not in taken][: settings.jobs_per_email - (jobs or 0)]
    fresh_people = [p for p in more_people if (p.kind, p.id) not in taken][: settings.people_per_email - (people or 0)]
    return as_filler((fresh_jobs if jobs is not None else []) + (fresh_people if people is not None else []))


def _add_segment(session: Session, settings: BuildSettings, issue: Issue, pool: Pool, prefs: Preferences) -> Segment:
    """Rank and store one segment (the caller marks its picks featured)."""
    assert issue.id is not None
    ranked = rank_segment(settings, pool, prefs, issue.built_at)
    segment = Segment(
        issue_id=issue.id, key=prefs.key, preferences=prefs.to_json(), picks=[p.to_json() for p in ranked.picks],
        skip_reason=ranked.skip_reason, created_at=issue.built_at,
    )  # fmt: skip
    session.add(segment)
    return segment


def _picked(segment: Segment) -> list[tuple[str, int]]:
    return [(pick.kind, pick.id) for pick in picks_of(segment.picks)]


def _mark_featured(session: Session, issue_id: int, picks: Iterable[tuple[str, int]]) -> None:
    """Flag the pool items some segment picked, in one statement per kind."""
    for kind in ("job", "person"):
        ids = sorted(item for k, item in picks if k == kind)
        for start in range(0, len(ids), 1000):  # under every backend's bound-parameter limit
            chunk = ids[start : start + 1000]
            query = update(IssueItem).where(
                col(IssueItem.issue_id) == issue_id, col(IssueItem.kind) == kind, col(IssueItem.item_id).in_(chunk)
            )
            session.execute(query.values(featured=True))


def segment_for(engine: Engine, config: Config, issue: Issue, prefs: Preferences, store: bool = True) -> Segment:
    """The issue's frozen segment for these preferences; a new one is ranked from the frozen pool
    (a reader who joined or changed preferences after the build), and stored unless ``store``
    is False (a dry run records nothing)."""
    with session_scope(engine) as session:
        found = session.exec(select(Segment).where(Segment.issue_id == issue.id, Segment.key == prefs.key)).first()
        if found is not None:
            return found
        if not store:
            settings = BuildSettings.of(config)
            ranked = rank_segment(settings, load_pool(session, settings, issue), prefs, issue.built_at)
            return Segment(issue_id=issue.id or 0, key=prefs.key, preferences=prefs.to_json(),
                           picks=[p.to_json() for p in ranked.picks], skip_reason=ranked.skip_reason,
                           created_at=issue.built_at)  # fmt: skip
    try:
        with session_scope(engine) as session:
            settings = BuildSettings.of(config)
            segment = _add_segment(session, settings, issue, load_pool(session, settings, issue), prefs)
            _mark_featured(session, segment.issue_id, _picked(segment))
            return segment
    except IntegrityError:
        with session_scope(engine) as session:
            query = select(Segment).where(Segment.issue_id == issue.id, Segment.key == prefs.key)
            return session.exec(query).one()


def existing_issue(engine: Engine, week: str) -> Issue | None:
    """The issue of ``week`` (YYYY-Www) when it has been built."""
    with session_scope(engine) as session:
        return session.exec(select(Issue).where(Issue.week == parse_week(week))).first()


def issue_of_week(
    engine: Engine, config: Config, week: str | None = None, now: datetime | None = None, progress: Progress = None
) -> Issue:
    """The issue of ``week`` (default: this week's), built and frozen first when it does not exist."""
    return find_issue(engine, build_issue(engine, config, week, now, progress).week)


def find_issue(engine: Engine, week: str | None) -> Issue:
    """The issue for ``week``, or the newest one; InputError when there is none."""
    with session_scope(engine) as session:
        query = select(Issue)
        query = query.where(Issue.week == parse_week(week)) if week else query.order_by(col(Issue.built_at).desc())
        issue = session.exec(query).first()
    if issue is None:
        raise InputError(
            f"no issue for {week}; run `digest build`" if week else "no issue built yet; run `digest build`"
        )
    return issue


__all__: Sequence[str] = [
    "BuildReport", "build_issue", "check_buildable", "existing_issue", "find_issue", "issue_of_week", "load_pool",
    "segment_for", "would_build",
]  # fmt: skip
