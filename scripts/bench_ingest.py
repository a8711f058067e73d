#!/usr/bin/env python3
"""Benchmark: ingest throughput for many feeds served from a local HTTP server.

Prints, for N generated RSS feeds of M items each: a cold ingest (everything new),
a warm ingest (everything unchanged: 304s), and bare feedparser.parse on the same
bytes, so the cost of digest's own work can be read against the parser's.

    python scripts/bench_ingest.py [--feeds 200] [--items 50] [--database-url URL]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import feedparser

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from digest.config import load_config
from digest.db import open_database
from digest.ingest import ingest
from digest.timeutil import utcnow
from tests.feedserver import Route, serve
from tests.fixtures import make_feed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--feeds", type=int, default=200)
    parser.add_argument("--items", type=int, default=50)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    now = utcnow()  # the clock the feeds are dated by
    feeds = {f"/feed{n}.rss": make_feed(n, args.items, now) for n in range(args.feeds)}
    total_items = args.feeds * args.items
    total_bytes = sum(len(b) for b in feeds.values())
    started = time.perf_counter()
    for body in feeds.values():
        feedparser.parse(body)
    bare = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as tmp, serve({p: Route(b) for p, b in feeds.items()}) as server:
        lines = [f"  - {{name: f{n}, url: '{server.url}/feed{n}.rss'}}" for n in range(args.feeds)]
        (Path(tmp) / "sources.yaml").write_text("ingest: {concurrency: 16}\nsources:\n" + "\n".join(lines))
        config = load_config({}, Path(tmp) / "sources.yaml")
        engine = open_database(args.database_url or f"sqlite:///{tmp}/bench.db")
        cold, cold_report = timed(lambda: ingest(engine, config))
        warm, warm_report = timed(lambda: ingest(engine, config))
    print(f"feeds: {args.feeds} x {args.items} items = {total_items:,} items, {total_bytes / 1e6:.1f} MB")
    print(f"bare feedparser.parse (no HTTP, no storage): {bare:6.2f} s  {total_items / bare:8,.0f} items/s")
    print(f"digest ingest, cold (all new):               {cold:6.2f} s  {total_items / cold:8,.0f} items/s"
          f"  ({cold_report.new:,} new, {cold_report.errors} errors)")  # fmt: skip
    print(f"digest ingest, warm (all unchanged, 304):    {warm:6.2f} s  {args.feeds / warm:8,.0f} feeds/s"
          f"  ({warm_report.new} new, {sum(s.status == '304' for s in warm_report.sources)} x 304)")  # fmt: skip
    print(f"cold ingest vs bare feedparser: {cold / bare:.2f}x the time")


def timed(work):  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    result = work()
    return time.perf_counter() - started, result


if __name__ == "__main__":
    main()
