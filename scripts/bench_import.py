#!/usr/bin/env python3
"""Benchmark: import a large subscriber CSV and report time and peak memory.

    python scripts/bench_import.py --lines 1000000 [--database-url URL]

Writes a CSV of N readers (1% bad lines, 1% case-variant duplicates), imports it into a
fresh database in a child process and prints lines/s and the child's peak RSS.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def write_csv(path: Path, lines: int) -> None:
    with open(path, "w", encoding="utf-8") as out:
        out.write("email,name,roles,locations,remote,seniority,audience\n")
        for n in range(lines):
            if n % 100 == 7:
                out.write(f"broken{n}.example.com,Bad,,,,,\n")
            elif n % 100 == 55:
                out.write(f"READER{n - 10}@EXAMPLE.COM,Dup,,,,,\n")
            else:
                out.write(f"reader{n}@example.com,Reader {n},product manager;payments,London,true,senior,both\n")


CHILD = """
import sys, time
from pathlib import Path
from digest.db import open_database
from digest.subscribers import import_file
engine = open_database(sys.argv[1])
started = time.perf_counter()
report = import_file(engine, Path(sys.argv[2]))
print(report.added, len(report.rejected), report.duplicates, time.perf_counter() - started)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "readers.csv"
        write_csv(path, args.lines)
        url = args.database_url or f"sqlite:///{tmp}/import.db"
        started = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", CHILD, url, str(path)], capture_output=True, text=True, check=True)
        wall = time.perf_counter() - started
        added, rejected, duplicates, seconds = out.stdout.split()
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        size = path.stat().st_size / 1e6
    print(
        f"import of {args.lines:,} lines ({size:.0f} MB): {added} added, {rejected} rejected, {duplicates} duplicates"
    )
    print(
        f"  {float(seconds):.1f} s ({args.lines / float(seconds):,.0f} lines/s), {wall:.1f} s with start-up; "
        f"peak RSS {peak:.0f} MB"
    )


if __name__ == "__main__":
    main()
