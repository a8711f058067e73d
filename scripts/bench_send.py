#!/usr/bin/env python3
"""Benchmark: `digest send` to Postfix's smtp-sink, next to Postfix's smtp-source (the wire).

Generates N readers in S segments (distinct preferences) and K feeds' worth of jobs in a
fresh database, then times, in one run: ingest (K local feed files), build, a dry run
(render only), `digest send` over C connections to smtp-sink, and smtp-source sending the
same number of messages of the same size over the same C connections, each kept open for
message after message (`-d`, as digest send keeps its own). Prints rates, their
ratio and the sender's peak RSS. Needs Debian's postfix package (smtp-sink, smtp-source).

    python scripts/bench_send.py --readers 20000 --segments 2000 --connections 4
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from sqlalchemy import Engine

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from digest.build.issue import build_issue
from digest.config import load_config
from digest.db import open_database
from digest.ingest import ingest
from digest.subscribers import import_file
from digest.timeutil import utcnow
from tests.fixtures import make_feed, write_readers
from tests.smtpserver import free_port


def tool(name: str) -> str:
    found = shutil.which(name) or (f"/usr/sbin/{name}" if os.path.exists(f"/usr/sbin/{name}") else None)
    if not found:
        sys.exit(f"Error: {name} not found (apt-get install postfix)")
    return found


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
    parser.add_argument(
        "--processes", type=int, help="sender processes sharing the connections (default: digest send's own choice)"
    )
    parser.add_argument("--commit-every", type=int, default=8, help="delivery.commit_every (messages per commit)")
    parser.add_argument("--rounds", type=int, default=1, help="send and smtp-source this many times; median ratio")
    parser.add_argument("--database-url", help="default: a fresh SQLite file")
    parser.add_argument("--profile", metavar="FILE", help="record `digest send` with py-spy into FILE (raw stacks)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (database, sources.yaml)")
    parser.add_argument("--dkim", action="store_true", help="sign every message (a fresh 2048-bit RSA key)")
    parser.add_argument(
        "--compare-synchronous",
        metavar="MODE",
        help="each round, also send with SQLite's "
        "synchronous=MODE (NORMAL: before durable commits), to read their cost in the same run",
    )
    args = parser.parse_args()
    sink_bin, source_bin = tool("smtp-sink"), tool("smtp-source")
    work = Path(tempfile.mkdtemp(prefix="digest-bench-"))
    db_url = args.database_url or f"sqlite:///{work}/bench.db"
    now = utcnow()  # the clock the feeds are dated by; build runs at it too
    for n in range(args.feeds):
        (work / f"feed{n}.rss").write_bytes(make_feed(n, 25, now))
    sources = "\n".join(f"  - {{name: f{n}, url: feed{n}.rss}}" for n in range(args.feeds))
    dkim = ""
    if args.dkim:
        subprocess.run(["openssl", "genrsa", "-out", str(work / "dkim.pem"), "2048"], check=True, capture_output=True)
        dkim = ", dkim: {selector: bench, domain: example.com, key_file: dkim.pem}"
    processes = f"processes: {args.processes}, " if args.processes else ""
    (work / "sources.yaml").write_text(
        "newsletter: {from: 'Bench <bench@example.com>', jobs_per_email: 10, people_per_email: 0}\n"
        f"delivery: {{workers: {args.connections}, {processes}batch: 500, "
        f"commit_every: {args.commit_every}{dkim}}}\nsources:\n{sources}\n"
    )
    write_readers(work / "readers.csv", args.readers, args.segments)
    env = {**os.environ, "DIGEST_DATABASE_URL": db_url, "DIGEST_SOURCES": str(work / "sources.yaml"),
           "DIGEST_SECRET_KEY": "bench-key-of-thirty-two-bytes-or-more"}  # fmt: skip
    config = load_config(env, work / "sources.yaml")
    engine = open_database(db_url)
    signing = ", DKIM rsa-sha256 2048" if args.dkim else ""
    print(f"digest send benchmark: {args.readers:,} readers, {args.segments:,} segments, {args.feeds} feeds, "
          f"{args.connections} connections, {engine.dialect.name}{signing}")  # fmt: skip
    timed("import readers", lambda: import_file(engine, work / "readers.csv"))
    timed("ingest", lambda: ingest(engine, config, now=now))
    _, built = timed("build (rank per segment)", lambda: build_issue(engine, config, now=now))
    port = free_port()
    sink = subprocess.Popen([sink_bin, "-u", "nobody", f"127.0.0.1:{port}", "1024"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    time.sleep(0.3)
    env["DIGEST_SMTP_URL"] = f"smtp://127.0.0.1:{port}"
    size = _message_size(env, work)
    ratios, rounds, compared = [], [], []
    wal = Path(db_url.removeprefix("sqlite:///") + "-wal") if db_url.startswith("sqlite:///") else None
    try:
        for round_number in range(args.rounds):
            if round_number:  # the same issue again: the bench forgets it was sent
                with engine.begin() as conn:
                    conn.exec_driver_sql("DELETE FROM delivery")
            command = [sys.executable, "-m", "digest", "send", "--json"]
            if args.profile:  # DIGEST_BENCH_PYSPY: py-spy options (default --gil: time holding the GIL)
                spy = os.environ.get("DIGEST_BENCH_PYSPY", "--gil").split()
                out_file = str(Path(args.profile).absolute())
                command = ["py-spy", "record", "--subprocesses", "--format", "raw", "--rate", "200", *spy,
                           "-o", out_file, "--", *command]  # fmt: skip
            memory = RssSampler(wal)
            sink_before = _cpu_seconds(sink.pid)
            send_time, out = timed("digest send", lambda: memory.run(command, env=env, cwd=work))  # noqa: B023
            start = out.find("\n{") + 1 if not out.startswith("{") else 0  # py-spy prints around it
            report = json.JSONDecoder().raw_decode(out[start:])[0] if "{" in out else {}
            sink_for_send, sink_before = _cpu_seconds(sink.pid) - sink_before, _cpu_seconds(sink.pid)
            # -d: each session keeps its connection for message after message, as digest send does
            wire = [source_bin, "-d", "-s", str(args.connections), "-m", str(args.readers), "-l", str(size),
                    "-f", "bench@example.com", "-t", "reader@example.com", f"127.0.0.1:{port}"]  # fmt: skip
            used = resource.getrusage(resource.RUSAGE_CHILDREN)
            source_time, _ = timed("smtp-source -d (same count)", lambda: subprocess.run(wire, check=True))  # noqa: B023
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            wire_cpu = (after.ru_utime - used.ru_utime) + (after.ru_stime - used.ru_stime)
            sink_for_wire = _cpu_seconds(sink.pid) - sink_before
            sent = report.get("sent", 0)
            ours, theirs = sent / send_time, args.readers / source_time
            ratios.append(ours / theirs)
            rounds.append((ours, theirs, memory))
            if args.compare_synchronous:
                other = _send_with_synchronous(args.compare_synchronous, engine, command, env, work)
                compared.append((ours, other))
                print(f"  round {round_number + 1}: synchronous=FULL {ours:,.0f} msg/s, "
                      f"{args.compare_synchronous} {other:,.0f} msg/s ({ours / other:.1%})")  # fmt: skip
            print(
                f"  round {round_number + 1}: sent {sent:,} (failed {report.get('failed')}, unknown "
                f"{report.get('unknown')}); digest send {ours:,.0f} msg/s, smtp-source {theirs:,.0f} msg/s, "
                f"ratio {ours / theirs:.1%}; peak RSS {memory.largest:.0f} MB largest process, "
                f"{memory.total:.0f} MB all sender processes (PSS); CPU {memory.user:.1f} s user + "
                f"{memory.system:.1f} s system; smtp-source -d alone {wire_cpu:.1f} s CPU; smtp-sink "
                f"{sink_for_send:.1f} s CPU during digest send, {sink_for_wire:.1f} s during smtp-source; "
                f"wall: digest send {send_time:.1f} s, smtp-source {source_time:.1f} s"
                + (f"; SQLite's WAL peaked at {memory.wal_mb:.0f} MB ({_tenths(memory.wal_series)} MB at each "
                   "tenth of the run)" if memory.wal is not None else "")
            )  # fmt: skip
    finally:
        sink.terminate()
        sink.wait()
    ours, theirs, memory = sorted(rounds, key=lambda r: r[0] / r[1])[len(rounds) // 2]
    print(f"  issue {built.week}: {built.jobs} jobs, {built.segments} segments; message ~{size / 1024:.1f} KB")
    print(
        f"  digest send   {ours:9,.0f} msg/s   (peak RSS {memory.largest:.0f} MB, all processes {memory.total:.0f} MB)"
    )
    print(f"  smtp-source -d {theirs:8,.0f} msg/s")
    print(f"  ratio         {ours / theirs:9.1%} of the wire" + (" (median round)" if len(rounds) > 1 else ""))
    if compared:
        full, other = sorted(compared, key=lambda c: c[0] / c[1])[len(compared) // 2]
        print(
            f"  durable commits: FULL {full:,.0f} msg/s against {args.compare_synchronous} {other:,.0f} msg/s "
            f"({full / other:.1%}, median round; all rounds {', '.join(f'{a / b:.1%}' for a, b in compared)})"
        )
    if args.keep:
        print(f"  kept {work} (DIGEST_SOURCES={work / 'sources.yaml'} DIGEST_DATABASE_URL={db_url})")
    else:
        shutil.rmtree(work, ignore_errors=True)


class RssSampler:
    """Runs a command and samples the resident memory of it and its children (forked senders),
    and the size of ``wal`` (SQLite's write-ahead log) if given."""

    def __init__(self, wal: Path | None = None) -> None:
        self.largest = self.total = self.user = self.system = self.wal_mb = 0.0
        self.wal = wal
        self.wal_series: list[float] = []  # the log's size at every sample (its file only grows)

    def run(self, command: list[str], **kwargs: object) -> str:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                   **kwargs)  # type: ignore[call-overload]  # fmt: skip
        done = threading.Event()
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        sampler = threading.Thread(target=self._sample, args=(process.pid, done), daemon=True)
        sampler.start()
        out, _ = process.communicate()
        done.set()
        sampler.join()
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.user, self.system = after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime
        return str(out)

    def _sample(self, root: int, done: threading.Event) -> None:
        while not done.wait(0.1):
            if self.wal is not None:
                with contextlib.suppress(OSError):
                    self.wal_series.append(self.wal.stat().st_size / 1e6)
                    self.wal_mb = max(self.wal_mb, self.wal_series[-1])
            sizes = [_memory_mb(pid) for pid in _tree(root)]
            if sizes:
                self.largest = max(self.largest, *(rss for rss, _ in sizes))
                self.total = max(self.total, sum(pss for _, pss in sizes))


def _tree(root: int) -> list[int]:
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = [root], [root]
    while frontier:
        frontier = [pid for pid, parent in parents.items() if parent in frontier]
        found += frontier
    return found


def _memory_mb(pid: int) -> tuple[float, float]:
    """(RSS, PSS): PSS shares pages a fork left in common, so PSS adds up across processes."""
    try:
        fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:])
        return int(fields["Rss"].split()[0]) / 1024, int(fields["Pss"].split()[0]) / 1024
    except (OSError, KeyError, ValueError):
        return 0.0, 0.0


def _send_with_synchronous(mode: str, engine: Engine, command: list[str], env: dict[str, str], work: Path) -> float:
    """The same send again, SQLite's synchronous set to ``mode`` (scripts/synchronous)."""
    with engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM delivery")
    shim = str(Path(__file__).resolve().parent / "synchronous")
    other_env = {**env, "DIGEST_BENCH_SYNCHRONOUS": mode, "PYTHONPATH": os.pathsep.join(
        p for p in (shim, env.get("PYTHONPATH")) if p)}  # fmt: skip
    seconds, out = timed(f"digest send ({mode})", lambda: RssSampler().run(command, env=other_env, cwd=work))
    report = json.loads(out[out.find("{") :]) if "{" in out else {}
    return float(report.get("sent", 0)) / seconds


def _tenths(series: list[float]) -> str:
    return " ".join(f"{series[len(series) * n // 10]:.0f}" for n in range(10)) if series else "-"


def _cpu_seconds(pid: int) -> float:
    """User + system CPU a running process has used so far (/proc/PID/stat, in clock ticks)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _message_size(env: dict[str, str], work: Path) -> int:
    preview = subprocess.run([sys.executable, "-m", "digest", "preview", "--format", "eml"], env=env, cwd=work,
                             capture_output=True, check=True)  # fmt: skip
    return len(preview.stdout)


if __name__ == "__main__":
    main()
