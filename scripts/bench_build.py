#!/usr/bin/env python3
"""Benchmark: `digest build`, ranking every segment against the week's pool.

Generates K feeds of 25 jobs (96 x 25 = 2,400 by default) and N readers over S sets of
preferences (20,000 readers over 1,500 give 1,196 distinct segments) in a fresh SQLite database, then
ranks the whole issue R times without storing it (the ranking a build does, rolled back),
and prints each round and the median.

    python scripts/bench_build.py                      # 2,400 jobs x 1,196 segments, 3 rounds
    python scripts/bench_build.py --feeds 40 --readers 3000 --segments 300 --rounds 5
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from digest.build.issue import would_build
from digest.config import load_config
from digest.db import open_database
from digest.ingest import ingest
from digest.subscribers import import_file
from digest.weeks import week_of
from tests.fixtures import make_feed, write_readers

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)  # a fixed clock: the figures never depend on the date


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--feeds", type=int, default=96, help="feeds of 25 jobs each (default 96: 2,400 jobs)")
    parser.add_argument("--readers", type=int, default=20_000)
    parser.add_argument("--segments", type=int, default=1_500, help="sets of preferences the readers cycle through")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    now = NOW  # the clock the feeds are dated by; the ranking runs at it too
    with tempfile.TemporaryDirectory(prefix="digest-bench-build-") as folder:
        work = Path(folder)
        for n in range(args.feeds):
            (work / f"feed{n}.rss").write_bytes(make_feed(n, 25, now))
        sources = "\n".join(f"  - {{name: f{n}, url: feed{n}.rss}}" for n in range(args.feeds))
        (work / "sources.yaml").write_text(
            "newsletter: {from: 'Bench <bench@example.com>', jobs_per_email: 10, people_per_email: 0}\n"
            f"sources:\n{sources}\n"
        )
        write_readers(work / "readers.csv", args.readers, args.segments)
        config = load_config({"DIGEST_SECRET_KEY": "bench-key-of-thirty-two-bytes-or-more"}, work / "sources.yaml")
        engine = open_database(f"sqlite:///{work}/bench.db")
        import_file(engine, work / "readers.csv")
        ingest(engine, config, now=now)
        week = week_of(now, config.newsletter.tz)
        times = []
        for round_number in range(1, args.rounds + 1):
            started = time.perf_counter()
            report = would_build(engine, config, week, now)
            times.append(time.perf_counter() - started)
            print(f"  round {round_number}: {report.jobs:,} jobs x {report.segments:,} segments in {times[-1]:.2f} s",
                  flush=True)  # fmt: skip
        print(f"build: median {statistics.median(times):.2f} s, min {min(times):.2f} s, max {max(times):.2f} s "
              f"over {len(times)} rounds")  # fmt: skip
        engine.dispose()


if __name__ == "__main__":
    main()
