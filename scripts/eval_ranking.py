#!/usr/bin/env python3
"""Evaluate ranking on real postings: precision, nDCG and fill per reader, for jobs and people.

Ingests every real job source in ../shared/corpus and the fictional profiles of
tests/data/eval_profiles.jsonl into a fresh SQLite database, shifts each source's dates into the
week before the build (keeping their order), builds the issue and ranks its pool for each reader
of tests/data/ranking_judgements.json as a build does (their own picks, and the scope's best that
fill a thin email), then scores the reader's own picks against the relevance judgements kept
there ("title @ company" for jobs, profile ids for people: 2 the reader's role, 1 a fair pick;
anything not listed is 0). A second judge's blind grades are beside them (--judgements).

    python scripts/eval_ranking.py                 # the tables
    python scripts/eval_ranking.py --picks         # and each reader's picks, with their grades
    python scripts/eval_ranking.py --titles        # every posting of the pool (for judging)
    python scripts/eval_ranking.py --judgements tests/data/ranking_judgements_blind.json   # a second judge
    python scripts/eval_ranking.py --list 2000     # how many emails of a realistic list are filled or skipped

Jobs: precision@10 (relevant picks / picks), nDCG@10 (graded, against the best order the pool
allows), fill (picks / min(10, relevant postings in the pool, at most ranking.max_per_company of
one company, as an email may show them)); people the same at 6. "subject"
is the grade of the job the subject names (the reader's best of their own roles; "-" when the
subject names none). "more" counts the week's other picks filling a thin email (not scored);
"skip" says a reader got no email. The week "held out" holds only sources nobody tuned the
ranking against: its figures measure what the ranking has not seen.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import tempfile
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from sqlmodel import Session, col, select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from digest.build.issue import BuildSettings, Pool, build_issue, load_pool, rank_segment
from digest.config import load_config
from digest.db import open_database
from digest.ingest import ingest
from digest.models import Issue, Job, JobSource, Profile, Source
from digest.preferences import Preferences
from digest.render.renderer import lead_of

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpus"
JUDGEMENTS = ROOT / "tests" / "data" / "ranking_judgements.json"
BLIND = ROOT / "tests" / "data" / "ranking_judgements_blind.json"
PROFILES = ROOT / "tests" / "data" / "eval_profiles.jsonl"
NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)  # the build's clock: a Monday, fixed (dates are shifted to it)
JOBS, PEOPLE = 10, 6  # picks per email, as the default sources.yaml

SOURCES = ROOT / "tests" / "data" / "corpus_jobs.yaml"  # every real job source, "{corpus}" for the folder
WWR = ("wwr-programming", "wwr-product", "wwr-backend", "wwr-all")
HELD_OUT = ("rct", "remoteok", "himalayas", "jobicy", "workingnomads", "hn")  # never looked at while tuning
WEEKS: dict[str, Sequence[str] | None] = {  # name -> the job sources of that week (None: every one)
    "every source": None,
    "We Work Remotely only": WWR,
    "held out": HELD_OUT,
}


@dataclass
class Email:
    """What one reader gets from a week: their own picks, the week's others, or nothing."""

    jobs: list[str]  # "title @ company" of their own job picks, in order
    people: list[str]  # profile ids of their own people picks, in order
    more: int  # the week's other picks filling a thin email
    skip: str  # why they get no email ("" when they get one)
    lead: str | None  # the job the subject names


@dataclass
class Week:
    """The evaluation week: every real posting of the corpus, and the profiles, ranked as a build ranks them."""

    settings: BuildSettings
    pool: Pool
    labels: dict[int, str]  # job id -> "title @ company"
    people: dict[int, str]  # profile row id -> its id in the file

    def email(self, prefs: Preferences) -> Email:
        ranked = rank_segment(self.settings, self.pool, prefs, NOW)
        own = [p for p in ranked.picks if p.tier != "filler"]
        lead = lead_of(ranked.picks)
        return Email(
            [self.labels[p.id] for p in own if p.kind == "job"], [self.people[p.id] for p in own if p.kind == "person"],
            len(ranked.picks) - len(own), ranked.skip_reason, self.labels[lead.id] if lead is not None else None,
        )  # fmt: skip

    def rank(self, prefs: Preferences) -> list[str]:
        return self.email(prefs).jobs


def label(job: Job) -> str:
    return f"{job.title} @ {job.company}" if job.company else job.title


def build_week(work: Path, corpus: Path = CORPUS, only: Sequence[str] | None = None, **newsletter: Any) -> Week:
    sources = yaml.safe_load(SOURCES.read_text(encoding="utf-8"))
    chosen = [source for source in sources if only is None or source["name"] in only]
    chosen.append({"name": "eval-profiles", "kind": "profiles", "url": str(PROFILES)})
    settings = {"from": "Eval <eval@example.com>", "jobs_per_email": JOBS, "people_per_email": PEOPLE,
                "min_items": 1, **newsletter}  # fmt: skip
    text = yaml.safe_dump({"newsletter": settings, "sources": chosen})
    (work / "sources.yaml").write_text(text.replace("{corpus}", str(corpus)), encoding="utf-8")
    config = load_config({"DIGEST_SECRET_KEY": "eval-key-of-thirty-two-bytes-or-more"}, work / "sources.yaml")
    engine = open_database(f"sqlite:///{work}/eval.db")
    ingest(engine, config, now=NOW - timedelta(days=7))
    _shift_dates(engine)
    build_issue(engine, config, now=NOW)
    build = BuildSettings.of(config)
    with Session(engine) as session:
        issue = session.exec(select(Issue)).one()
        pool = load_pool(session, build, issue)
        labels = {j.id: label(j) for j in session.exec(select(Job)) if j.id is not None}
        people = {p.id: p.external_id for p in session.exec(select(Profile)) if p.id is not None}
    engine.dispose()
    return Week(build, pool, labels, people)


def _shift_dates(engine: object) -> None:
    """Each source's postings, oldest to newest, spread over the 6.5 days before the build."""
    with Session(engine) as session:  # type: ignore[arg-type]
        query = (
            select(Job, Source.name)
            .select_from(Job)
            .join(JobSource, col(JobSource.job_id) == col(Job.id))
            .join(Source, col(Source.id) == col(JobSource.source_id))
            .order_by(col(Job.id), col(Source.id))
        )
        rows = session.exec(query).all()
        by_source: dict[str, list[Job]] = {}
        first: dict[int, str] = {}
        for job, name in rows:
            if job.id not in first:  # a posting several feeds list is dated by the first
                first[job.id or 0] = name
                by_source.setdefault(name, []).append(job)
        for jobs in by_source.values():
            jobs.sort(key=lambda j: (j.posted_at, j.id or 0))
            for n, job in enumerate(jobs):
                step = timedelta(days=6.5) * (len(jobs) - 1 - n) / max(1, len(jobs) - 1)
                job.published_at = NOW - timedelta(hours=1) - step
                job.first_seen_at = job.published_at
                session.add(job)
        session.commit()


@dataclass
class Reader:
    preferences: Preferences
    jobs: dict[str, int] = field(default_factory=dict)  # "title @ company" -> grade
    people: dict[str, int] | None = None  # profile id -> grade; None: people not judged for them


def load_judgements(path: Path = JUDGEMENTS) -> dict[str, Reader]:
    """Readers with their preferences and graded postings (and people). A file may hold grades
    alone ({"readers": {name: grades}, "people": {name: grades}}, a second judge's): the readers'
    preferences then come from tests/data/ranking_judgements.json."""
    data = json.loads(path.read_text(encoding="utf-8"))
    readers = data["readers"]
    if all("preferences" in reader for reader in readers.values()):
        return {name: Reader(_preferences(reader["preferences"]), dict(reader.get("relevant") or {}),
                             reader.get("people")) for name, reader in readers.items()}  # fmt: skip
    ours = load_judgements()
    people = data.get("people") or {}
    return {name: Reader(ours[name].preferences, dict(readers.get(name) or {}), people.get(name))
            for name in ours if name in readers or name in people}  # fmt: skip


def _preferences(data: Mapping[str, Any]) -> Preferences:
    return Preferences.from_json(dict(data))


@dataclass
class Score:
    reader: str
    picks: int
    available: int
    precision: float
    ndcg: float
    fill: float


def score(
    reader: str, picked: Sequence[str], grades: Mapping[str, int], pool: Sequence[str], limit: int = JOBS,
    per_company: int | None = None,
) -> Score:  # fmt: skip
    """The figures of one reader's picks. ``per_company``: an email shows at most this many
    postings of one company (ranking.max_per_company), so no more of them count as available."""
    relevant = sorted((grades.get(item, 0) for item in set(pool)), reverse=True)
    if per_company is not None:
        relevant = _showable(grades, set(pool), per_company)
    available = min(limit, sum(1 for g in relevant if g > 0))
    top = list(picked[:limit])
    hits = sum(1 for item in top if grades.get(item, 0) > 0)
    precision = hits / len(top) if top else (1.0 if available == 0 else 0.0)
    gains = [grades.get(item, 0) for item in top]
    ideal = _dcg(relevant[:limit])
    ndcg = _dcg(gains) / ideal if ideal else 1.0
    fill = min(1.0, len(top) / available) if available else 1.0
    return Score(reader, len(top), available, precision, ndcg, fill)


def _showable(grades: Mapping[str, int], pool: set[str], per_company: int) -> list[int]:
    """The pool's grades, best first, with at most ``per_company`` postings of each company."""
    shown: Counter[str] = Counter()
    kept = []
    for item in sorted(pool, key=lambda i: -grades.get(i, 0)):
        company = item.rpartition(" @ ")[2].lower()
        if grades.get(item, 0) > 0 and shown[company] >= per_company:
            continue
        shown[company] += 1
        kept.append(grades.get(item, 0))
    return kept


def _dcg(gains: Sequence[int]) -> float:
    return float(sum((2**g - 1) / math.log2(rank + 2) for rank, g in enumerate(gains)))


@dataclass
class Result:
    reader: str
    email: Email
    jobs: Score | None  # None: the reader wants no jobs, or their jobs are not judged
    people: Score | None
    lead_grade: int | None  # the grade of the job the subject names


def evaluate(week: Week, judgements: Mapping[str, Reader]) -> list[Result]:
    postings, profiles = list(week.labels.values()), list(week.people.values())
    results = []
    for name, reader in judgements.items():
        prefs = reader.preferences
        email = week.email(prefs)
        cap = week.settings.ranking.max_per_company
        jobs = score(name, email.jobs, reader.jobs, postings, JOBS, cap) if prefs.wants_jobs and reader.jobs else None
        people = (score(name, email.people, reader.people, profiles, PEOPLE)
                  if prefs.wants_people and reader.people is not None else None)  # fmt: skip
        lead = reader.jobs.get(email.lead, 0) if email.lead else None
        results.append(Result(name, email, jobs, people, lead))
    return results


def print_results(
    name: str, week: Week, results: Sequence[Result], picks: bool, judgements: Mapping[str, Reader]
) -> None:
    print(f"\n{name}: {len(set(week.labels.values()))} postings and {len(week.people)} profiles in the pool")
    head = f"{'jobs':>4} {'avail':>5} {'P@10':>5} {'nDCG':>5} {'fill':>5}   {'people':>6} {'avail':>5} {'P@6':>5}"
    print(f"{'reader':<42} {head} {'nDCG':>5} {'fill':>5}  {'subject':>7} {'more':>4}  skip")
    for r in results:
        jobs = _cells(r.jobs, 4)
        people = _cells(r.people, 6)
        subject = "-" if r.lead_grade is None else str(r.lead_grade)
        print(f"{r.reader[:42]:<42} {jobs}   {people}  {subject:>7} {r.email.more:>4}  {r.email.skip}")
    if picks:
        for r in results:
            reader = judgements[r.reader]
            print(f"\n{r.reader} ({r.reader and describe(reader.preferences)}):")
            for n, item in enumerate(r.email.jobs, 1):
                print(f"  {n:2d}. [{reader.jobs.get(item, 0)}] {item}")
            for n, item in enumerate(r.email.people, 1):
                print(f"  p{n}. [{(reader.people or {}).get(item, 0)}] {item}")


def describe(prefs: Preferences) -> str:
    from digest.build.reading import read_terms

    return read_terms(prefs.roles).describe() or "nothing chosen"


def _cells(found: Score | None, width: int) -> str:
    if found is None:
        return f"{'-':>{width}} {'':>5} {'':>5} {'':>5} {'':>5}"
    return (f"{found.picks:>{width}} {found.available:>5} {found.precision:>5.2f} {found.ndcg:>5.2f} "
            f"{found.fill:>5.0%}")  # fmt: skip


def ceiling(ours: Mapping[str, int], theirs: Mapping[str, int], pool: set[str], per_company: int) -> float:
    """The best any email of at most JOBS postings could do against both judges at once: the
    highest min(precision, fill) over both sets of grades. Below 0.9, no ranking can reach 0.9
    against both: their relevant sets overlap too little."""

    def showable(items: Sequence[str]) -> int:
        return sum(1 for g in _showable({i: 1 for i in items}, set(items), per_company) if g > 0)

    both = showable([i for i in pool if ours.get(i, 0) > 0 and theirs.get(i, 0) > 0])
    only_ours = showable([i for i in pool if ours.get(i, 0) > 0 and not theirs.get(i, 0)])
    only_theirs = showable([i for i in pool if theirs.get(i, 0) > 0 and not ours.get(i, 0)])
    wanted = [min(JOBS, sum(1 for g in _showable(g, pool, per_company) if g > 0)) for g in (ours, theirs)]
    best = 0.0
    for k in range(min(JOBS, both) + 1):
        for x in range(min(JOBS - k, only_ours) + 1):
            for y in range(min(JOBS - k - x, only_theirs) + 1):
                n = k + x + y
                if n:
                    fills = [min(1.0, n / w) if w else 1.0 for w in wanted]
                    best = max(best, min((k + x) / n, (k + y) / n, *fills))
    return best


def print_ceilings(week: Week) -> None:
    ours, theirs = load_judgements(JUDGEMENTS), load_judgements(BLIND)
    pool, cap = set(week.labels.values()), week.settings.ranking.max_per_company
    print("\nThe best any ranking could do against both judges at once (min of precision and fill, jobs):")
    for name, reader in ours.items():
        if reader.jobs and name in theirs:
            print(f"  {name:<42} {ceiling(reader.jobs, theirs[name].jobs, pool, cap):.2f}")


# A list as readers fill in the signup form and the preference page: most keep the default
# (nothing chosen), many tick one or two families, some type roles and topics, a few want people.
_FAMILIES = ["product manager", "technical product manager", "product designer", "product operations",
             "product leadership"]  # fmt: skip
_TYPED = ["tpm", "pm", "senior product manager", "ux designer", "head of product", "growth pm", "data product manager",
          "design lead", "product owner", "backend engineer", "ux researcher", "program manager", "engineering manager",
          "data scientist", "product marketing manager"]  # fmt: skip
_TOPICS = ["api", "platform", "ai", "machine learning", "fintech", "payments", "b2b", "saas", "growth", "health",
           "design systems", "developer tools", "data", "marketplace", "mobile", "crypto", "security",
           "climate"]  # fmt: skip
_PLACES = ["london", "uk", "berlin", "new york", "us", "usa", "united states", "europe", "toronto", "remote",
           "sydney", "bengaluru", "san francisco", "amsterdam", "emea"]  # fmt: skip
_LEVELS = ["", "", "junior", "mid", "senior", "senior", "staff", "principal", "director"]


def realistic_list(count: int, seed: int = 7) -> list[Preferences]:
    """``count`` readers' preferences, drawn as people fill the form (seeded: the same list every run)."""
    rng = random.Random(seed)
    readers = []
    for _ in range(count):
        kind = rng.random()
        roles: list[str] = []
        if kind >= 0.35:
            roles += rng.sample(_FAMILIES, rng.choice([1, 1, 2]))
        if kind >= 0.7:
            roles += rng.sample(_TYPED, rng.choice([0, 1, 1, 2]))
            roles += rng.sample(_TOPICS, rng.choice([0, 1, 2, 3]))
        if 0.3 <= kind < 0.35:
            roles = rng.sample(_TOPICS, rng.choice([1, 2]))  # topics without a role
        places = rng.sample(_PLACES, rng.choice([0, 0, 0, 1, 1, 2]))
        remote = rng.choice([None, None, None, True, False])
        audience = rng.choice(["both", "both", "both", "jobs", "jobs", "people"])
        readers.append(Preferences.of(roles, places, remote, rng.choice(_LEVELS), audience))
    return readers


def list_outcomes(corpus: Path, count: int) -> None:
    """Emails of a realistic list this week, with either below_min_picks: own, filled, skipped, empty."""
    readers = realistic_list(count)
    for mode in ("fill", "skip"):
        with tempfile.TemporaryDirectory(prefix="digest-eval-") as work:
            week = build_week(Path(work), corpus, None, below_min_picks=mode)
        seen: Counter[str] = Counter()
        for prefs in readers:
            email = week.email(prefs)
            empty = not (email.jobs or email.people or email.more)
            kind = "skipped" if email.skip else "empty" if empty else "filled" if email.more else "own picks only"
            seen[kind] += 1
        print(f"\nA realistic list of {count} readers (seeded), below_min_picks: {mode}:")
        for kind in ("own picks only", "filled", "skipped", "empty"):
            print(f"  {kind:<15} {seen[kind]:>6} ({seen[kind] / count:.1%})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--picks", action="store_true", help="print each reader's picks with their grades")
    parser.add_argument("--titles", action="store_true", help="print every posting of the pool and stop")
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--judgements", type=Path, default=JUDGEMENTS,
                        help="the grades to score against (default: %(default)s)")  # fmt: skip
    parser.add_argument("--week", choices=list(WEEKS), action="append", help="only these weeks (repeatable)")
    parser.add_argument("--list", type=int, metavar="N", help="also count a realistic list's filled and skipped emails")
    parser.add_argument("--ceiling", action="store_true", help="also print the best any ranking could do against "
                        "both judges at once")  # fmt: skip
    args = parser.parse_args()
    if not args.corpus.is_dir():
        sys.exit(f"Error: no corpus at {args.corpus}")
    judgements = load_judgements(args.judgements)
    for name in args.week or list(WEEKS):
        with tempfile.TemporaryDirectory(prefix="digest-eval-") as work:
            week = build_week(Path(work), args.corpus, WEEKS[name])
        if args.titles:
            for item in sorted(set(week.labels.values())):
                print(item)
            return
        print_results(name, week, evaluate(week, judgements), args.picks, judgements)
        if args.ceiling:
            print_ceilings(week)
    if args.list:
        list_outcomes(args.corpus, args.list)


if __name__ == "__main__":
    main()
