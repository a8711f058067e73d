"""``digest ingest``: fetch every source concurrently, then parse and store each in its own
transaction. One failing source records its error; the others go on."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Engine
from sqlmodel import Session, select

from digest.config import Config, SourceSettings
from digest.db import session_scope
from digest.errors import DatabaseError, InputError, SourceError
from digest.ingest.fetch import Fetched, Request, fetch_all
from digest.ingest.formats import parse_jobs
from digest.ingest.profiles import parse_profiles
from digest.ingest.records import SourceContext, normalise_job
from digest.ingest.store import store_jobs, store_profiles
from digest.models import Source
from digest.timeutil import plausible, utcnow


@dataclass
class SourceReport:
    name: str
    kind: str
    status: str = ""
    seen: int = 0
    new: int = 0
    updated: int = 0
    skipped: int = 0  # items without a title or a usable link
    error: str | None = None


@dataclass
class IngestReport:
    sources: list[SourceReport] = field(default_factory=list)

    @property
    def new(self) -> int:
        return sum(s.new for s in self.sources)

    @property
    def updated(self) -> int:
        return sum(s.updated for s in self.sources)

    @property
    def errors(self) -> int:
        return sum(1 for s in self.sources if s.error)

    def to_json(self) -> dict[str, Any]:
        return {
            "sources": [asdict(s) for s in self.sources],
            "new": self.new,
            "updated": self.updated,
            "errors": self.errors,
        }


def select_sources(config: Config, names: Sequence[str] = ()) -> list[SourceSettings]:
    known = {s.name: s for s in config.sources}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise InputError(f"no source named {unknown[0]!r} in sources.yaml (known: {', '.join(known) or 'none'})")
    return [known[n] for n in dict.fromkeys(names)] if names else list(config.sources)


def ingest(
    engine: Engine,
    config: Config,
    names: Sequence[str] = (),
    now: datetime | None = None,
    on_source: Callable[[SourceReport], None] | None = None,
) -> IngestReport:
    now = now or utcnow()
    chosen = select_sources(config, names)
    rows = sync_sources(engine, config, chosen)
    requests = [Request(s.name, config.resolve(s), rows[s.name].etag, rows[s.name].last_modified) for s in chosen]
    fetched = asyncio.run(fetch_all(requests, config.file.ingest))
    report = IngestReport()
    for source in chosen:
        result = ingest_one(engine, config, source, fetched[source.name], now)
        report.sources.append(result)
        if on_source:
            on_source(result)
    return report


def sync_sources(engine: Engine, config: Config, chosen: Sequence[SourceSettings]) -> dict[str, Source]:
    """Make sure each configured source has its row (keeping its fetch state)."""
    with session_scope(engine) as session:
        rows = {row.name: row for row in session.exec(select(Source))}
        for source in chosen:
            row = rows.get(source.name)
            if row is None:
                row = rows[source.name] = Source(name=source.name, kind=source.kind, url=config.resolve(source))
            if (row.kind, row.url) != (source.kind, config.resolve(source)):
                row.kind, row.url, row.etag, row.last_modified = (
                    source.kind,
                    config.resolve(source),
                    None,
                    None,
                )
            session.add(row)
    return rows


def ingest_one(
    engine: Engine, config: Config, source: SourceSettings, fetched: Fetched | SourceError, now: datetime
) -> SourceReport:
    """Store one source's items in one transaction; a database failure (a full disk) rolls
    it back whole and is this source's error, and the next source is tried."""
    try:
        return _ingest_one(engine, source, fetched, now)
    except DatabaseError as exc:
        return SourceReport(source.name, source.kind, status="error", error=str(exc))


def _ingest_one(engine: Engine, source: SourceSettings, fetched: Fetched | SourceError, now: datetime) -> SourceReport:
    report = SourceReport(source.name, source.kind)
    with session_scope(engine) as session:
        row = session.exec(select(Source).where(Source.name == source.name)).one()
        row.last_fetched_at = now
        try:
            if isinstance(fetched, SourceError):
                raise fetched
            report.status = fetched.status
            if fetched.body is not None:
                _parse_and_store(session, row, source, fetched.body, report, now)
            row.etag, row.last_modified = fetched.etag, fetched.last_modified
            row.last_status, row.last_error, row.last_ok_at = fetched.status, None, now
        except SourceError as exc:
            report.status, report.error = "error", str(exc)
            row.last_status, row.last_error = "error", str(exc)
        session.add(row)
    return report


def _parse_and_store(
    session: Session, row: Source, source: SourceSettings, body: bytes, report: SourceReport, now: datetime
) -> None:
    if source.kind == "profiles":
        profiles, report.skipped = parse_profiles(body, source.format)
        report.seen = len(profiles) + report.skipped
        report.new, report.updated = store_profiles(session, row, profiles, now)
        row.items_seen = report.seen
        return
    raw = parse_jobs(body, source)
    context = _context(source)
    jobs = [j for j in (normalise_job(r, context) for r in raw) if j is not None]
    jobs = [replace(j, published_at=plausible(j.published_at, now)) for j in jobs]
    report.seen, report.skipped = len(raw), len(raw) - len(jobs)
    report.new, report.updated = store_jobs(session, row, jobs, now)
    row.items_seen = report.seen


def _context(source: SourceSettings) -> SourceContext:
    namespace = urlsplit(source.url).netloc if source.is_http else source.name
    return SourceContext(name=source.name, namespace=namespace, remote=source.remote, repair_encoding=True)
