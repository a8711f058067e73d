"""Unsubscribing and resubscribing by token (the links in every email), recorded as events."""

from __future__ import annotations

from sqlalchemy import Engine

from digest.db import session_scope
from digest.models import Event, Issue, Subscriber
from digest.timeutil import utcnow

METHODS = ("one-click", "link", "operator", "mailto")


def unsubscribe(engine: Engine, subscriber_id: int, issue_id: int, method: str) -> bool:
    """Takes effect at once; returns False when there is no such reader (forgotten, say).
    Unsubscribing twice is harmless and records one event."""
    now = utcnow()
    with session_scope(engine) as session:
        subscriber = session.get(Subscriber, subscriber_id)
        if subscriber is None:
            return False
        if subscriber.status in ("active", "pending"):
            subscriber.status, subscriber.updated_at = "unsubscribed", now
            session.add(subscriber)
            issue = session.get(Issue, issue_id) if issue_id else None
            session.add(Event(subscriber_id=subscriber_id, issue_id=issue.id if issue else None, kind="unsubscribed",
                              method=method, created_at=now))  # fmt: skip
        return True


def resubscribe(engine: Engine, subscriber_id: int) -> bool:
    """Undo an unsubscribe (a bounced or complained address stays suppressed)."""
    now = utcnow()
    with session_scope(engine) as session:
        subscriber = session.get(Subscriber, subscriber_id)
        if subscriber is None or subscriber.status != "unsubscribed":
            return subscriber is not None and subscriber.status == "active"
        subscriber.status, subscriber.updated_at = "active", now
        session.add(subscriber)
        session.add(Event(subscriber_id=subscriber_id, kind="resubscribed", method="link", created_at=now))
        return True


def confirm(engine: Engine, subscriber_id: int) -> bool:
    """Double opt-in: a pending reader becomes active."""
    now = utcnow()
    with session_scope(engine) as session:
        subscriber = session.get(Subscriber, subscriber_id)
        if subscriber is None:
            return False
        if subscriber.status == "pending":
            subscriber.status, subscriber.updated_at = "active", now
            session.add(subscriber)
            session.add(Event(subscriber_id=subscriber_id, kind="confirmed", method="link", created_at=now))
        return subscriber.status == "active"
