#!/usr/bin/env python3
"""Benchmark: render cost per reader, and premailer calls, as readers and segments grow.

Builds a synthetic issue (300 jobs, 60 people), N readers spread over S segments
(distinct preferences), ranks once per segment, drafts once per segment and
personalises once per reader, exactly as `digest send` does. Prints the time per
reader and how many times premailer ran.

    python scripts/bench_render.py                       # 10k and 100k readers, 50 and 5,000 segments
    python scripts/bench_render.py --readers 10000 --segments 50
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from digest.build.issue import BuildSettings, Pool, rank_segment
from digest.build.ranking import JobCandidate, PersonCandidate, picks_of
from digest.config import Config, Settings, SourcesFile
from digest.preferences import Preferences
from digest.render.mime import Envelope, assemble, quoted_printable
from digest.render.renderer import JobView, PersonView, Reader, Renderer

NOW = datetime(2026, 11, 26, tzinfo=UTC)
ROLES = ["product manager", "technical product manager", "product designer", "payments", "api", "data",
         "growth", "platform", "messaging", "auth", "product operations", "product leadership"]  # fmt: skip
PLACES = ["london", "berlin", "new york", "remote", "paris", "toronto", "dublin", "amsterdam", "lisbon", "austin"]
TITLES = ["Senior Technical Product Manager, Payments API", "Product Manager, Growth", "Product Designer, Onboarding",
          "Staff TPM, Data Platform", "Head of Product", "Product Operations Lead", "TPM, Auth & Identity"]  # fmt: skip


def synthetic_pool(jobs: int, people: int) -> tuple[Pool, dict[int, JobView], dict[int, PersonView]]:
    pool, job_views, person_views = Pool(), {}, {}
    for n in range(1, jobs + 1):
        title, place = TITLES[n % len(TITLES)], PLACES[n % len(PLACES)].title()
        summary = f"Own the {ROLES[n % len(ROLES)]} roadmap. " * 8
        pool.jobs.append(JobCandidate(n, title, f"Company {n % 90}", place, n % 3 == 0, n % 2 == 0, summary,
                                      len(summary), NOW - timedelta(hours=n)))  # fmt: skip
        job_views[n] = JobView(n, title, f"Company {n % 90}", place, n % 3 == 0, "$150k–$180k" if n % 2 == 0 else "",
                               f"https://jobs.example.com/{n}", summary[:220])  # fmt: skip
    for n in range(1, people + 1):
        headline = f"{TITLES[n % len(TITLES)]} looking for {ROLES[n % len(ROLES)]} work"
        skills = (ROLES[n % len(ROLES)], ROLES[(n + 3) % len(ROLES)], "SQL")
        pool.people.append(PersonCandidate(n, f"Person {n}", headline, PLACES[n % len(PLACES)], skills, "senior", True,
                                           NOW - timedelta(hours=n)))  # fmt: skip
        person_views[n] = PersonView(n, f"Person {n}", headline, PLACES[n % len(PLACES)], skills,
                                     f"https://people.example.com/{n}")  # fmt: skip
    return pool, job_views, person_views


def segment_preferences(count: int) -> list[Preferences]:
    found: dict[str, Preferences] = {}
    n = 0
    while len(found) < count:
        prefs = Preferences.of(
            roles=[ROLES[n % len(ROLES)], ROLES[(n // len(ROLES)) % len(ROLES)]],
            locations=[PLACES[(n // 7) % len(PLACES)], f"city {n // 700}"],
            remote=(n % 3 == 0), seniority=["", "senior", "staff"][n % 3], audience=["both", "jobs", "people"][n % 3],
        )  # fmt: skip
        found.setdefault(prefs.key, prefs)
        n += 1
    return list(found.values())


def run(readers: int, segments: int, with_mime: bool) -> None:
    config = Config(Settings(), SourcesFile())
    pool, job_views, person_views = synthetic_pool(300, 60)
    renderer = Renderer(config, "2026-W48", job_views, person_views)
    prefs = segment_preferences(segments)
    started = time.perf_counter()
    picks = {
        p.key: picks_of([pick.to_json() for pick in rank_segment(BuildSettings.of(config), pool, p, NOW)])
        for p in prefs
    }
    ranked = time.perf_counter()
    drafts = {p.key: renderer.draft(p, picks[p.key]) for p in prefs}
    drafted = time.perf_counter()
    size = 0
    for n in range(readers):
        p = prefs[n % segments]
        email = renderer.personalise(drafts[p.key], Reader(f"reader{n}@example.com", f"Reader {n}",
                                                          f"https://digest.example.com/u/token{n}"))  # fmt: skip
        if with_mime:
            envelope = Envelope("Digest <d@example.com>", f"Reader {n}", f"reader{n}@example.com", email.subject,
                                f"<{n}@example.com>", NOW, f"https://digest.example.com/u/token{n}")  # fmt: skip
            size += len(
                assemble(envelope, quoted_printable(email.text) + b"\r\n", quoted_printable(email.html) + b"\r\n")
            )
        else:
            size += len(email.html)
    done = time.perf_counter()
    per_reader = (done - started) / readers * 1e6
    print(
        f"{readers:>7,} readers {segments:>5,} segments | premailer calls {renderer.premailer_calls} | "
        f"rank {ranked - started:5.2f}s  draft {drafted - ranked:5.2f}s  personalise{'+mime' if with_mime else ''} "
        f"{done - drafted:5.2f}s | {per_reader:6.0f} us/reader | avg {size / readers / 1024:.1f} KB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--readers", type=int, action="append")
    parser.add_argument("--segments", type=int, action="append")
    parser.add_argument("--mime", action="store_true", help="also build each reader's MIME message")
    args = parser.parse_args()
    for readers in args.readers or [10_000, 100_000]:
        for segments in args.segments or [50, 5_000]:
            run(readers, segments, args.mime)


if __name__ == "__main__":
    main()
