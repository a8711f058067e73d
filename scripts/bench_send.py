#!/usr/bin/env python3
"""Benchmark: `digest send` to Postfix's smtp-sink, next to Postfix's smtp-source (the wire).

Generates N readers in S segments (distinct preferences) and K feeds' worth of jobs in a
fresh database, then times, in one run: ingest (K local feed files), build, a dry run
(render only), `digest send` over C connections to smtp-sink, and smtp-source sending the
same number of messages of the same size over the same C connections. Prints rates, their
ratio and the sender's peak RSS. Needs Debian's postfix package (smtp-sink, smtp-source).

    python scripts/bench_send.py --readers 20000 --segments 2000 --connections 4
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from digest.config import load_config
from digest.db import open_database
from digest.ingest import ingest
from digest.issues import build_issue
from digest.subscribers import import_file
from scripts.bench_ingest import make_feed
from tests.smtpserver import free_port

ROLES = ["product manager", "technical product manager", "product designer", "payments", "api", "data",
         "growth", "platform", "messaging", "auth", "product operations", "senior"]  # fmt: skip
PLACES = ["london", "berlin", "new york", "paris", "toronto", "dublin", "amsterdam", "lisbon", "austin", "remote"]


def tool(name: str) -> str:
    found = shutil.which(name) or (f"/usr/sbin/{name}" if os.path.exists(f"/usr/sbin/{name}") else None)
    if not found:
        sys.exit(f"Error: {name} not found (apt-get install postfix)")
    return found


def write_readers(path: Path, readers: int, segments: int) -> None:
    with open(path, "w", encoding="utf-8") as out:
        out.write("email,name,roles,locations,remote,seniority,audience\n")
        for n in range(readers):
            s = n % segments
            roles = f"{ROLES[s % len(ROLES)]};{ROLES[(s // len(ROLES)) % len(ROLES)]}"
            place = f"{PLACES[(s // 144) % len(PLACES)]};city {s // 1440}"
            audience = ["both", "jobs", "people"][(s // 14400) % 3]
            out.write(f"reader{n}@example.com,Reader {n},{roles},{place},{'true' if s % 2 else 'false'},,{audience}\n")


def timed(label: str, work):  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    result = work()
    elapsed = time.perf_counter() - started
    print(f"  {label:<28} {elapsed:8.2f} s", flush=True)
    return elapsed, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--readers", type=int, default=20_000)
    parser.add_argument("--segments", type=int, default=2_000)
    parser.add_argument("--feeds", type=int, default=20)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--processes", type=int, default=1, help="sender processes sharing the connections")
    parser.add_argument("--database-url", help="default: a fresh SQLite file")
    args = parser.parse_args()
    sink_bin, source_bin = tool("smtp-sink"), tool("smtp-source")
    work = Path(tempfile.mkdtemp(prefix="digest-bench-"))
    db_url = args.database_url or f"sqlite:///{work}/bench.db"
    for n in range(args.feeds):
        (work / f"feed{n}.rss").write_bytes(make_feed(n, 25))
    sources = "\n".join(f"  - {{name: f{n}, url: feed{n}.rss}}" for n in range(args.feeds))
    (work / "sources.yaml").write_text(
        "newsletter: {from: 'Bench <bench@example.com>', jobs_per_email: 10, people_per_email: 0}\n"
        f"delivery: {{workers: {args.connections}, processes: {args.processes}, batch: 500}}\nsources:\n{sources}\n"
    )
    write_readers(work / "readers.csv", args.readers, args.segments)
    env = {**os.environ, "DIGEST_DATABASE_URL": db_url, "DIGEST_SOURCES": str(work / "sources.yaml"),
           "DIGEST_SECRET_KEY": "bench"}  # fmt: skip
    config = load_config(env, work / "sources.yaml")
    engine = open_database(db_url)
    print(f"digest send benchmark: {args.readers:,} readers, {args.segments:,} segments, {args.feeds} feeds, "
          f"{args.connections} connections, {engine.dialect.name}")  # fmt: skip
    timed("import readers", lambda: import_file(engine, work / "readers.csv"))
    timed("ingest", lambda: ingest(engine, config))
    _, built = timed("build (rank per segment)", lambda: build_issue(engine, config))
    port = free_port()
    sink = subprocess.Popen([sink_bin, "-u", "nobody", f"127.0.0.1:{port}", "1024"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    time.sleep(0.3)
    try:
        env["DIGEST_SMTP_URL"] = f"smtp://127.0.0.1:{port}"
        command = [sys.executable, "-m", "digest", "send", "--json"]
        send_time, out = timed("digest send", lambda: subprocess.run(command, env=env, cwd=work, capture_output=True,
                                                                     text=True))  # fmt: skip
        report = json.loads(out.stdout) if out.stdout else {}
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        size = _message_size(env, work)
        wire = [source_bin, "-s", str(args.connections), "-m", str(args.readers), "-l", str(size),
                "-f", "bench@example.com", "-t", "reader@example.com", f"127.0.0.1:{port}"]  # fmt: skip
        source_time, _ = timed(
            "smtp-source (same count)", lambda: subprocess.run(wire, check=True, capture_output=True)
        )
    finally:
        sink.terminate()
        sink.wait()
    sent = report.get("sent", 0)
    ours, wire = sent / send_time, args.readers / source_time
    print(
        f"  issue {built.week}: {built.jobs} jobs, {built.segments} segments; sent {sent:,} "
        f"(failed {report.get('failed')}, unknown {report.get('unknown')}); message ~{size / 1024:.1f} KB"
    )
    print(f"  digest send   {ours:9,.0f} msg/s   (peak RSS {peak:.0f} MB)")
    print(f"  smtp-source   {wire:9,.0f} msg/s")
    print(f"  ratio         {ours / wire:9.1%} of the wire")
    shutil.rmtree(work, ignore_errors=True)


def _message_size(env: dict[str, str], work: Path) -> int:
    preview = subprocess.run([sys.executable, "-m", "digest", "preview", "--format", "eml"], env=env, cwd=work,
                             capture_output=True, check=True)  # fmt: skip
    return len(preview.stdout)


if __name__ == "__main__":
    main()
