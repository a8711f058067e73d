"""Storing parsed records: a posting is stored once, updated in place when it changes,
and remembers every source that lists it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Engine, func, insert
from sqlmodel import Session, col, select

from digest.db import session_scope
from digest.ingest.records import JobRecord, ProfileRecord
from digest.models import Job, JobSource, Profile, Source

CHUNK = 500
T = TypeVar("T")


def _chunks(items: Sequence[T]) -> Iterable[Sequence[T]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


def store_jobs(session: Session, source: Source, records: Iterable[JobRecord], now: datetime) -> tuple[int, int]:
    """Insert new postings, update changed ones, link all to ``source``; returns (new, updated).
    New postings and links go in as batched INSERTs, without ORM objects (most of an ingest
    is new postings); a changed posting is updated through the ORM."""
    unique = {r.uid: r for r in reversed(list(records))}  # the first occurrence wins
    uids = list(unique)
    existing: dict[str, Job] = {}
    for chunk in _chunks(uids):
        existing.update({job.uid: job for job in session.exec(select(Job).where(col(Job.uid).in_(chunk)))})
    linked = set(session.exec(select(JobSource.job_id).where(JobSource.source_id == source.id)))
    ids = {uid: job.id for uid, job in existing.items()}
    fresh: list[dict[str, Any]] = []
    updated = 0
    for uid in uids:
        record, job = unique[uid], existing.get(uid)
        digest = record.content_hash()
        if job is None:
            fresh.append({**_job_fields(record), "first_seen_at": now, "updated_at": now, "content_hash": digest})
        elif job.content_hash != digest:
            for key, value in _job_fields(record).items():
                setattr(job, key, value)
            job.content_hash, job.updated_at = digest, now
            updated += 1
    new_ids = insert(Job).returning(col(Job.uid), col(Job.id))
    for rows in _chunks(fresh):  # INSERT ... RETURNING gives the new ids
        ids.update((uid, job_id) for uid, job_id in session.execute(new_ids, rows))
    assert source.id is not None
    links = [{"job_id": ids[uid], "source_id": source.id, "first_seen_at": now}
             for uid in uids if ids[uid] not in linked]  # fmt: skip
    if links:
        session.execute(insert(JobSource), links)
    return len(fresh), updated


def _job_fields(record: JobRecord) -> dict[str, Any]:
    fields = record.values()
    fields["tags"] = list(record.tags)
    return fields


def store_profiles(
    session: Session, source: Source, records: Iterable[ProfileRecord], now: datetime
) -> tuple[int, int]:
    unique = {r.external_id: r for r in reversed(list(records))}
    ids = list(unique)
    existing: dict[str, Profile] = {}
    for chunk in _chunks(ids):
        query = select(Profile).where(Profile.source_id == source.id, col(Profile.external_id).in_(chunk))
        existing.update({p.external_id: p for p in session.exec(query)})
    new = updated = 0
    for external_id in ids:
        record, profile = unique[external_id], existing.get(external_id)
        fields = {**record.values(), "skills": list(record.skills)}
        digest = record.content_hash()
        if profile is None:
            assert source.id is not None
            session.add(Profile(**fields, source_id=source.id, first_seen_at=now, updated_at=now, content_hash=digest))
            new += 1
        elif profile.content_hash != digest:
            for key, value in fields.items():
                setattr(profile, key, value)
            profile.content_hash, profile.updated_at = digest, now
            updated += 1
    return new, updated


def last_ingest(engine: Engine) -> datetime | None:
    """When a source was last fetched (None: never)."""
    with session_scope(engine) as session:
        return session.exec(select(func.max(Source.last_fetched_at))).one()
