"""One address at a time: add, update, unsubscribe, forget, stream, history."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, delete, func
from sqlmodel import Session, col, select

from digest import status
from digest.addresses import find_reader, normalise_email
from digest.build.reading import Reading, read_terms
from digest.db import session_scope
from digest.deliver import ledger
from digest.errors import SubscriberError
from digest.models import Event, Setting, Subscriber, Suppression
from digest.status import STATUSES, SUPPRESSED, Status
from digest.subscribers.validation import BATCH, clean_record
from digest.timeutil import as_utc, utcnow

# ---- hashing for forgotten addresses -------------------------------------------------------


def _salt(session: Session) -> str:
    found = session.get(Setting, "suppression_salt")
    if found is None:
        found = Setting(key="suppression_salt", value=secrets.token_hex(16))
        session.add(found)
        session.flush()
    return found.value


def email_hash(session: Session, email: str) -> str:
    return hashlib.sha256(f"{_salt(session)}:{email}".encode()).hexdigest()


def is_forgotten(session: Session, email: str) -> bool:
    return session.get(Suppression, email_hash(session, email)) is not None


# ---- one address ---------------------------------------------------------------------------


def get(engine: Engine, email: str) -> Subscriber | None:
    address = normalise_email(email)
    with session_scope(engine) as session:
        return find_reader(session, address)


def add(
    engine: Engine,
    email: str,
    name: str = "",
    prefs: Mapping[str, Any] | None = None,
    *,
    pending: bool = False,
    fresh_consent: bool = False,
) -> tuple[Subscriber, bool]:
    """Add a reader, or update an existing one's name and preferences; returns (subscriber, created).

    A suppressed address is refused unless ``fresh_consent`` (the person asked again)."""
    record = clean_record({"email": email, "name": name, **(prefs or {})})
    now = utcnow()
    with session_scope(engine) as session:
        existing = find_reader(session, record["email"])
        if existing is None:
            if is_forgotten(session, record["email"]) and not fresh_consent:
                raise SubscriberError(f"{record['email']} asked to be forgotten; add it only with fresh consent")
            subscriber = Subscriber(**record, status=status.initial(None, pending=pending), created_at=now,
                                    updated_at=now)  # fmt: skip
            session.add(subscriber)
            session.flush()
            return subscriber, True
        if existing.status in SUPPRESSED and not fresh_consent:
            raise SubscriberError(f"{existing.email} is {existing.status}; add it again only with fresh consent")
        _apply(existing, record, now)
        if existing.status in SUPPRESSED:
            status.change(session, existing, Status.PENDING if pending else Status.ACTIVE, "operator", consent=True,
                          now=now)  # fmt: skip
        session.add(existing)
        return existing, False


def _apply(subscriber: Subscriber, record: Mapping[str, Any], now: datetime) -> bool:
    changed = False
    for key, value in record.items():
        if key in ("email", "status", "public_id"):  # the status module owns one, links the other
            continue
        if getattr(subscriber, key) != value:
            setattr(subscriber, key, value)
            changed = True
    if changed:
        subscriber.updated_at = now
    return changed


def update_preferences(engine: Engine, email: str, prefs: Mapping[str, Any]) -> Subscriber:
    record = clean_record({"email": email, **prefs})
    with session_scope(engine) as session:
        subscriber = find_reader(session, record["email"])
        if subscriber is None:
            raise SubscriberError(f"no subscriber {record['email']}")
        record.pop("status", None)
        _apply(subscriber, record, utcnow())
        session.add(subscriber)
        return subscriber


def remove(engine: Engine, email: str, *, method: str = "operator") -> Subscriber:
    """Unsubscribe: the address stays on the suppression list, so no import brings it back."""
    address = normalise_email(email)
    now = utcnow()
    with session_scope(engine) as session:
        subscriber = find_reader(session, address)
        if subscriber is None:
            raise SubscriberError(f"no subscriber {address}")
        status.change(session, subscriber, Status.UNSUBSCRIBED, method, now=now)
        return subscriber


def forget(engine: Engine, email: str) -> bool:
    """Erase the person's data (subscriber row, deliveries, events); keep only a salted hash of
    the address so it is never mailed again. Returns whether anything was stored."""
    address = normalise_email(email)
    with session_scope(engine) as session:
        subscriber = find_reader(session, address)
        digest = email_hash(session, address)
        if session.get(Suppression, digest) is None:
            session.add(Suppression(email_hash=digest, reason="forgotten", created_at=utcnow()))
        if subscriber is None:
            return False
        ledger.forget_reader(session, subscriber.id or 0)
        session.execute(delete(Event).where(col(Event.subscriber_id) == subscriber.id))
        session.delete(subscriber)
        return True


def count(engine: Engine, status: str | None = None) -> int:
    """How many subscribers there are (with ``status``, when given)."""
    query = select(func.count()).select_from(Subscriber)
    if status is not None:
        query = query.where(Subscriber.status == status)
    with session_scope(engine) as session:
        return int(session.exec(query).one())


def iter_subscribers(engine: Engine, status: str | None = None, batch: int = BATCH) -> Iterator[Subscriber]:
    """Every subscriber in id order, streamed in batches (bounded memory)."""
    if status is not None and status not in STATUSES:
        raise SubscriberError(f"--status: expected one of {', '.join(STATUSES)}")
    last = 0
    while True:
        with session_scope(engine) as session:
            query = select(Subscriber).where(col(Subscriber.id) > last)
            if status:
                query = query.where(Subscriber.status == status)
            rows = session.exec(query.order_by(col(Subscriber.id)).limit(batch)).all()
        if not rows:
            return
        yield from rows
        last = rows[-1].id or last


def as_record(subscriber: Subscriber) -> dict[str, Any]:
    return {
        "email": subscriber.email, "name": subscriber.name, "status": subscriber.status,
        "roles": subscriber.roles, "locations": subscriber.locations, "remote": subscriber.remote,
        "seniority": subscriber.seniority, "audience": subscriber.audience, "public_id": subscriber.public_id,
        "paused_until": as_utc(subscriber.paused_until).isoformat() if subscriber.paused_until else None,
    }  # fmt: skip


@dataclass
class History:
    subscriber: Subscriber
    deliveries: list[dict[str, Any]]
    events: list[dict[str, Any]]

    @property
    def read_as(self) -> Reading:
        """How their ``roles`` terms are read: roles, topics, and a level said in a role."""
        return read_terms(self.subscriber.roles, self.subscriber.seniority)

    def to_json(self) -> dict[str, Any]:
        return {**as_record(self.subscriber), "read_as": self.read_as.to_json(),
                "created_at": self.subscriber.created_at.isoformat(), "deliveries": self.deliveries,
                "events": self.events}  # fmt: skip


def history(engine: Engine, email: str) -> History:
    """One reader with every issue they were sent (and what happened) and every status change."""
    address = normalise_email(email)
    with session_scope(engine) as session:
        subscriber = find_reader(session, address)
        if subscriber is None:
            raise SubscriberError(f"no subscriber {address}")
        deliveries = [
            {"week": a.week, "status": a.status, "attempts": a.attempts, "reply": a.reply,
             "sent_at": a.sent_at.isoformat() if a.sent_at else None}
            for a in ledger.history_of(session, subscriber.id or 0)
        ]  # fmt: skip
        events = [
            {"kind": e.kind, "method": e.method, "issue_id": e.issue_id, "at": e.created_at.isoformat()}
            for e in session.exec(select(Event).where(Event.subscriber_id == subscriber.id).order_by(col(Event.id)))
        ]
        return History(subscriber, deliveries, events)
