"""The preference center's reads and writes: a reader's choices, saved from the page.

Saving changes the reader's preferences (so their segment) and their pause, and records one
``preferences`` event naming what changed. An issue already being sent keeps the rows it
queued: the change takes effect from the next issue."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from digest.db import session_scope
from digest.models import Event, Subscriber
from digest.serve.links import reader_of
from digest.serve.preference_form import Posted
from digest.subscribers.validation import clean_prefs
from digest.tokens import Link

EVENT = "preferences"
KEYS = ("roles", "locations", "remote", "seniority", "audience", "name")


def load(engine: Engine, link: Link) -> Subscriber | None:
    """The reader the link names, detached from its session (the page reads it after)."""
    with session_scope(engine) as session:
        reader = reader_of(session, link)
        if reader is not None:
            session.expunge(reader)
        return reader


def save(engine: Engine, link: Link, posted: Posted, now: datetime) -> tuple[Subscriber, list[str]] | None:
    """Save a valid form; returns the reader as saved and the names of what changed, or None
    when the link is nobody's."""
    record = clean_prefs(posted.record)
    with session_scope(engine) as session:
        reader = reader_of(session, link)
        if reader is None:
            return None
        changed: dict[str, Any] = {k: v for k, v in record.items() if k in KEYS and getattr(reader, k) != v}
        if posted.pause_weeks is not None:
            until = now + timedelta(weeks=posted.pause_weeks) if posted.pause_weeks else None
            if (reader.paused_until is not None and reader.paused_until > now) or until is not None:
                changed["paused_until"] = until.isoformat(timespec="seconds") if until else None
                reader.paused_until = until
        for key, value in record.items():
            if key in KEYS:
                setattr(reader, key, value)
        if changed:
            reader.updated_at = now
            detail = json.dumps(changed, ensure_ascii=False, sort_keys=True)[:2000]
            session.add(Event(subscriber_id=reader.id, kind=EVENT, method="page", detail=detail, created_at=now))
        session.add(reader)
        session.flush()
        session.expunge(reader)
        return reader, sorted(changed)
