#!/usr/bin/env python3
"""Load on `digest serve` from loopback: bounded in requests and time.

Starts the app under uvicorn on 127.0.0.1, then N client threads send a mix of GET pages,
one-click POSTs and forged tokens for at most --seconds or --requests, and prints the
request rate, p50/p99 latency and the number of unexpected answers.

    python scripts/bench_serve.py --requests 6000 --clients 8 --seconds 30
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from digest.config import Config, Settings, SourcesFile
from digest.db import open_database
from digest.subscribers import import_rows
from digest.tokens import Signer
from tests.webserver import running


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=6000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        engine = open_database(f"sqlite:///{tmp}/serve.db")
        import_rows(engine, ((n + 2, {"email": f"r{n}@example.com"}) for n in range(2000)))
        with engine.connect() as conn:
            public_ids = [row[0] for row in conn.exec_driver_sql("SELECT public_id FROM subscriber ORDER BY id")]
        key = "bench-key-of-thirty-two-bytes-or-more"
        config = Config(Settings(secret_keys=(key,)), SourcesFile())
        signer = Signer.from_keys([key])
        latencies: list[float] = []
        unexpected: list[str] = []
        lock = threading.Lock()
        deadline = time.monotonic() + args.seconds
        counter = iter(range(args.requests))

        def client(base: str) -> None:
            with httpx.Client(base_url=base, timeout=10) as http:
                for n in counter:
                    if time.monotonic() > deadline:
                        return
                    token = signer.sign("unsubscribe", public_ids[n % 2000], 1)
                    kind = n % 3
                    started = time.perf_counter()
                    if kind == 0:
                        answer, want = http.get(f"/u/{token}"), 200
                    elif kind == 1:
                        answer, want = http.post(f"/u/{token}", data={"List-Unsubscribe": "One-Click"}), 200
                    else:
                        answer, want = (
                            http.post("/u/" + token[:-3] + "xyz", data={"List-Unsubscribe": "One-Click"}),
                            400,
                        )
                    elapsed = time.perf_counter() - started
                    with lock:
                        latencies.append(elapsed)
                        if answer.status_code != want:
                            unexpected.append(f"{answer.status_code} for kind {kind}")

        with running(engine, config) as base:
            started = time.perf_counter()
            threads = [threading.Thread(target=client, args=(base,)) for _ in range(args.clients)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            wall = time.perf_counter() - started
    cuts = statistics.quantiles(latencies, n=100)
    print(f"digest serve: {len(latencies):,} requests from {args.clients} clients in {wall:.1f} s "
          f"({len(latencies) / wall:,.0f} req/s); p50 {cuts[49] * 1000:.1f} ms, p99 {cuts[98] * 1000:.1f} ms; "
          f"unexpected answers: {len(unexpected)}")  # fmt: skip


if __name__ == "__main__":
    main()
