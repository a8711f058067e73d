#!/usr/bin/env python3
"""Evaluate ranking on real postings: precision@10, nDCG@10 and fill per reader profile.

Ingests every real job source in ../shared/corpus into a fresh SQLite database, shifts each
source's dates into the week before the build (keeping their order), builds the issue and
ranks its pool for each reader profile of tests/data/ranking_judgements.json, then scores the
picks against the relevance judgements kept there, written by hand from the postings' titles
and companies ("title @ company": 2 the reader's role, 1 a fair related pick; anything not
listed is 0, not relevant).

    python scripts/eval_ranking.py                 # the table
    python scripts/eval_ranking.py --picks         # and each reader's picks, with their grades
    python scripts/eval_ranking.py --titles        # every posting of the pool (for judging)
    python scripts/eval_ranking.py --judgements tests/data/ranking_judgements_blind.json   # a second judge

precision@10: relevant picks (grade >= 1) / picks.  nDCG@10: graded, against the best order the
pool allows.  fill: picks / min(10, relevant postings in the pool).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml
from sqlmodel import Session, col, select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from digest.build.issue import BuildSettings, build_issue, load_pool, rank_segment
from digest.config import load_config
from digest.db import open_database
from digest.ingest import ingest
from digest.models import Issue, Job, JobSource, Source
from digest.preferences import Preferences

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpus"
JUDGEMENTS = ROOT / "tests" / "data" / "ranking_judgements.json"
NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)  # the build's clock: a Monday, fixed (dates are shifted to it)
LIMIT = 10

SOURCES = ROOT / "tests" / "data" / "corpus_jobs.yaml"  # every real job source, "{corpus}" for the folder


@dataclass
class Week:
    """The evaluation week: every real posting of the corpus, ranked as a build ranks them."""

    settings: BuildSettings
    pool: object
    labels: dict[int, str]  # job id -> "title @ company"

    def rank(self, prefs: Preferences) -> list[str]:
        picks = rank_segment(self.settings, self.pool, prefs, NOW)  # type: ignore[arg-type]
        return [self.labels[p.id] for p in picks if p.kind == "job"]


def label(job: Job) -> str:
    return f"{job.title} @ {job.company}" if job.company else job.title


WEEKS = {  # name -> the sources of that week (None: every one)
    "every source": None,
    "We Work Remotely only": ("wwr-programming", "wwr-product", "wwr-backend", "wwr-all"),
}


def build_week(work: Path, corpus: Path = CORPUS, only: Sequence[str] | None = None) -> Week:
    sources = yaml.safe_load(SOURCES.read_text(encoding="utf-8"))
    chosen = [source for source in sources if only is None or source["name"] in only]
    newsletter = {"from": "Eval <eval@example.com>", "jobs_per_email": 10, "people_per_email": 0, "min_items": 1}
    text = yaml.safe_dump({"newsletter": newsletter, "sources": chosen})
    (work / "sources.yaml").write_text(text.replace("{corpus}", str(corpus)), encoding="utf-8")
    config = load_config({"DIGEST_SECRET_KEY": "eval-key-of-thirty-two-bytes-or-more"}, work / "sources.yaml")
    engine = open_database(f"sqlite:///{work}/eval.db")
    ingest(engine, config, now=NOW - timedelta(days=7))
    _shift_dates(engine)
    build_issue(engine, config, now=NOW)
    settings = BuildSettings.of(config)
    with Session(engine) as session:
        issue = session.exec(select(Issue)).one()
        pool = load_pool(session, settings, issue)
        labels = {j.id: label(j) for j in session.exec(select(Job)) if j.id is not None}
    engine.dispose()
    return Week(settings, pool, labels)


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


def load_judgements(path: Path = JUDGEMENTS) -> dict[str, dict[str, object]]:
    """Readers with their preferences and graded postings. A file may hold grades alone
    ({"readers": {name: {"title @ company": grade}}}, a second judge's): the readers'
    preferences then come from tests/data/ranking_judgements.json."""
    data: dict[str, dict[str, object]] = json.loads(path.read_text(encoding="utf-8"))["readers"]
    if path == JUDGEMENTS or all("relevant" in reader for reader in data.values()):
        return data
    readers = load_judgements()
    return {name: {"preferences": readers[name]["preferences"], "relevant": grades} for name, grades in data.items()}


def preferences(reader: Mapping[str, object]) -> Preferences:
    return Preferences.from_json(dict(reader.get("preferences") or {}))  # type: ignore[call-overload]


@dataclass
class Score:
    reader: str
    picks: int
    available: int
    precision: float
    ndcg: float
    fill: float


def score(reader: str, picked: Sequence[str], grades: Mapping[str, int], pool: Sequence[str]) -> Score:
    relevant = sorted((grades.get(item, 0) for item in set(pool)), reverse=True)
    available = min(LIMIT, sum(1 for g in relevant if g > 0))
    top = list(picked[:LIMIT])
    hits = sum(1 for item in top if grades.get(item, 0) > 0)
    precision = hits / len(top) if top else (1.0 if available == 0 else 0.0)
    gains = [grades.get(item, 0) for item in top]
    ideal = _dcg(relevant[:LIMIT])
    ndcg = _dcg(gains) / ideal if ideal else 1.0
    fill = min(1.0, len(top) / available) if available else 1.0
    return Score(reader, len(top), available, precision, ndcg, fill)


def _dcg(gains: Sequence[int]) -> float:
    return float(sum((2**g - 1) / math.log2(rank + 2) for rank, g in enumerate(gains)))


def evaluate(week: Week, judgements: Mapping[str, Mapping[str, object]]) -> list[tuple[Score, list[str]]]:
    pool = list(week.labels.values())
    results = []
    for name, reader in judgements.items():
        picked = week.rank(preferences(reader))
        grades: dict[str, int] = dict(reader.get("relevant") or {})  # type: ignore[call-overload]
        results.append((score(name, picked, grades, pool), picked))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--picks", action="store_true", help="print each reader's picks with their grades")
    parser.add_argument("--titles", action="store_true", help="print every posting of the pool and stop")
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--judgements", type=Path, default=JUDGEMENTS,
                        help="the grades to score against (default: %(default)s)")  # fmt: skip
    args = parser.parse_args()
    if not args.corpus.is_dir():
        sys.exit(f"Error: no corpus at {args.corpus}")
    judgements = load_judgements(args.judgements)
    for name, only in WEEKS.items():
        with tempfile.TemporaryDirectory(prefix="digest-eval-") as work:
            week = build_week(Path(work), args.corpus, only)
        if args.titles:
            for item in sorted(set(week.labels.values())):
                print(item)
            return
        results = evaluate(week, judgements)
        print(f"\n{name}: {len(set(week.labels.values()))} postings in the pool; top {LIMIT} per reader")
        print(f"{'reader':<26} {'picks':>5} {'avail':>5} {'P@10':>6} {'nDCG@10':>8} {'fill':>6}")
        for result, _ in results:
            print(f"{result.reader:<26} {result.picks:>5} {result.available:>5} {result.precision:>6.2f} "
                  f"{result.ndcg:>8.2f} {result.fill:>6.0%}")  # fmt: skip
        if args.picks:
            for result, picked in results:
                grades: dict[str, int] = dict(judgements[result.reader].get("relevant") or {})  # type: ignore[call-overload]
                print(f"\n{result.reader}:")
                for n, item in enumerate(picked, 1):
                    print(f"  {n:2d}. [{grades.get(item, 0)}] {item}")


if __name__ == "__main__":
    main()
