"""Ingestion over a real local HTTP server."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from digest.ingest import ingest
from digest.ingest.records import JobRecord
from digest.models import Source
from tests.conftest import ROOT, config_for
from tests.feedserver import Route, serve

RSS = (ROOT / "samples" / "product-jobs.rss").read_bytes()
ATOM = (ROOT / "samples" / "platform-jobs.atom").read_bytes()
GREENHOUSE = (ROOT / "samples" / "greenhouse-board.json").read_bytes()
LOL = "".join(f'<!ENTITY lol{n} "{f"&lol{n - 1};" * 10}">' for n in range(2, 10))
ENTITY_BOMB = (
    f'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol1 "lol">{LOL}]>'
    '<rss version="2.0"><channel><title>&lol9;</title><item><title>A: PM &lol9;</title>'
    "<link>https://a.example/1</link></item></channel></rss>"
).encode()

pytestmark = pytest.mark.dates


def sources_yaml(url: str, names: list[str], extra: str = "") -> str:
    lines = ["ingest: {timeout: 2, connect_timeout: 1, max_bytes: 200000, max_redirects: 3}", extra, "sources:"]
    lines += [f"  - {{name: {name}, url: '{url}/{name}'}}" for name in names]
    return "\n".join(lines)


def test_second_ingest_of_unchanged_feeds_downloads_nothing(tmp_path: Path, engine: Engine) -> None:
    routes = {
        "/rss": Route(RSS),
        "/atom": Route(ATOM, gzip=True),
        "/board": Route(GREENHOUSE, content_type="application/json"),
    }
    with serve(routes) as server:
        config = config_for(tmp_path, sources_yaml(server.url, ["rss", "atom", "board"]))
        first = ingest(engine, config)
        second = ingest(engine, config)
    assert [s.new for s in first.sources] == [5, 4, 3] and first.errors == 0
    assert [s.status for s in second.sources] == ["304", "304", "304"]
    assert (second.new, second.updated) == (0, 0)
    assert [status for _, status, _ in server.log] == [200, 200, 200, 304, 304, 304]
    assert all(size == 0 for _, status, size in server.log if status == 304)


def test_a_changed_feed_updates_in_place(tmp_path: Path, engine: Engine) -> None:
    with serve({"/rss": Route(RSS)}) as server:
        config = config_for(tmp_path, sources_yaml(server.url, ["rss"]))
        ingest(engine, config)
        server.routes["/rss"] = Route(RSS.replace(b"Head of Product", b"VP of Product"))
        again = ingest(engine, config)
    assert (again.new, again.updated) == (0, 1)


def test_failing_sources_are_reported_while_the_rest_go_in(tmp_path: Path, engine: Engine) -> None:
    routes = {
        "/good": Route(RSS),
        "/broken": Route(b"oops", status=500),
        "/silent": Route(RSS, stall=30),
        "/loop": Route(redirect="/loop"),
        "/huge": Route(b"<rss>" + b" " * 300_000 + b"</rss>"),
        "/bomb": Route(b"<rss>" + b" " * 5_000_000 + b"</rss>", gzip=True),
        "/notxml": Route(b"<html><body>Sign in</body></html>", content_type="text/html"),
        "/drip": Route(RSS, drip=0.3),
        "/bomb-xml": Route(ENTITY_BOMB),
    }
    with serve(routes) as server:
        config = config_for(tmp_path, sources_yaml(server.url, list(n.strip("/") for n in routes)))
        started = time.monotonic()
        report = ingest(engine, config)
        elapsed = time.monotonic() - started
    by_name = {s.name: s for s in report.sources}
    assert elapsed < 6, "the silent source must give up at its 2 s timeout"
    assert by_name["good"].new == 5 and by_name["good"].error is None
    assert by_name["broken"].error == "HTTP 500 Internal Server Error"
    assert by_name["silent"].error is not None and "2s" in by_name["silent"].error
    assert by_name["loop"].error == "more than 3 redirects"
    assert by_name["huge"].error is not None and "limit" in by_name["huge"].error
    assert by_name["bomb"].error is not None and "limit" in by_name["bomb"].error
    assert by_name["notxml"].error is not None
    assert by_name["drip"].error is not None and "2s" in by_name["drip"].error, (
        "a feed that drips is cut at the total timeout"
    )
    bomb = by_name["bomb-xml"]
    assert bomb.error is not None or bomb.new <= 1, "entities are never expanded"
    assert report.errors >= 7
    with Session(engine) as session:
        rows = {s.name: s for s in session.exec(select(Source))}
    assert rows["broken"].last_error == "HTTP 500 Internal Server Error" and rows["broken"].last_status == "error"
    assert rows["good"].last_error is None and rows["good"].etag


def test_user_agent_is_honest(tmp_path: Path, engine: Engine) -> None:
    with serve({"/rss": Route(RSS)}) as server:
        ingest(engine, config_for(tmp_path, sources_yaml(server.url, ["rss"])))
    assert server.agents and server.agents[0].startswith("digest/0.")


def test_a_postings_content_hash_never_changes_between_versions() -> None:
    """The stored hash says whether a posting changed (the value below is what the version of
    2026-12-04 computed): were a new version to compute it differently, every stored posting
    would count as updated at the next ingest."""
    record = JobRecord("u1", "Product Manager", "Ledgerly", "Berlin", True, "https://jobs.example/1", "Lead.",
                       "<p>Lead.</p>", datetime(2026, 1, 2, tzinfo=UTC), 1, 2, "EUR", ("fintech", "b2b"))  # fmt: skip
    assert record.content_hash() == "9c0d6df7a7b99f98f7033e55bdca46b9f46444db4fb3cf11507a6fe45aba289f"
