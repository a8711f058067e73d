"""feedparser's own test corpus (about 2,000 well-formed, ill-formed, encoding, entity and
sanitiser cases) through `digest ingest`: no crash, no hang, nothing executable kept.

The corpus is downloaded from PyPI (feedparser's source distribution) into a temporary
folder at test time; nothing is committed. A per-file outcome table is written to
test-artifacts/feedparser-corpus.tsv."""

from __future__ import annotations

import re
import subprocess
import sys
import tarfile
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlmodel import Session, select

from digest.config import load_config
from digest.db import open_database
from digest.ingest import ingest
from digest.models import Job
from tests.conftest import BACKEND, ROOT

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(BACKEND == "postgresql", reason="uses its own SQLite file; runs in the SQLite pass"),
]
UNSAFE = re.compile(r"<script|<iframe|<style|<object|<embed|javascript:|vbscript:|data:|\son\w+\s*=", re.IGNORECASE)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    where = tmp_path_factory.mktemp("feedparser")
    download = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "feedparser==6.0.12", "-d",
         str(where)], capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    archives = list(where.glob("feedparser-*.tar.gz"))
    if download.returncode != 0 or not archives:
        pytest.fail(f"cannot download feedparser's sdist from PyPI: {download.stderr[-500:]}")
    with tarfile.open(archives[0]) as archive:
        members = [m for m in archive.getmembers() if "/tests/" in m.name and m.isfile()]
        archive.extractall(where, members=members, filter="data")
    files = sorted(p for p in where.rglob("tests/**/*") if p.suffix in (".xml", ".json", ".rdf", ".atom", ".rss"))
    assert len(files) > 1500, f"expected the feedparser test corpus, found {len(files)} files"
    return files


def test_ingest_survives_feedparsers_corpus(corpus: list[Path], tmp_path: Path) -> None:
    lines = ["ingest: {timeout: 10, max_bytes: 5000000, concurrency: 16}", "sources:"]
    lines += [f"  - {{name: f{n}, url: '{path}'}}" for n, path in enumerate(corpus)]
    (tmp_path / "sources.yaml").write_text("\n".join(lines), encoding="utf-8")
    config = load_config({}, tmp_path / "sources.yaml")
    engine = open_database(f"sqlite:///{tmp_path / 'corpus.db'}")
    started = time.monotonic()
    report = ingest(engine, config)
    elapsed = time.monotonic() - started
    outcomes = Counter("error" if s.error else ("items" if s.seen else "empty") for s in report.sources)
    artifacts = ROOT / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    with open(artifacts / "feedparser-corpus.tsv", "w", encoding="utf-8") as table:
        table.write("file\tseen\tnew\tskipped\terror\n")
        for source, path in zip(report.sources, corpus, strict=True):
            table.write(f"{path.relative_to(path.parents[2])}\t{source.seen}\t{source.new}\t{source.skipped}\t"
                        f"{source.error or ''}\n")  # fmt: skip
    with Session(engine) as session:
        jobs = session.exec(select(Job)).all()
    unsafe = [j.uid for j in jobs if UNSAFE.search(j.html) or not j.url.startswith(("http://", "https://"))]
    print(f"\nfeedparser corpus: {len(corpus)} files in {elapsed:.1f} s: {dict(outcomes)}; {len(jobs)} jobs stored")
    assert unsafe == [], unsafe[:5]
    assert elapsed < 600
    assert all("\n" not in (s.error or "") for s in report.sources), "errors are one line"
