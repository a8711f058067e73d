"""A reader's status: the one place that changes it, and the rules it follows.

    pending ──confirm──► active ──unsubscribe──► unsubscribed
       │                   │  └──bounce──► bounced
       └───────────────────┴─────complain──► complained

Every change is recorded as an ``Event`` with how it happened (``one-click``, ``link``,
``smtp``, ``operator``, ``import``...) and the issue that caused it, if any. The rules:

* a suppressed reader (unsubscribed, bounced, complained) comes back to pending or active
  only with fresh consent: a confirmation link they clicked, or the operator saying they
  asked again (``--fresh-consent``); a link anyone may hold is never consent;
* suppression only grows stronger without consent: unsubscribed may become bounced or
  complained, bounced may become complained, never the other way;
* an active reader never goes back to pending.

Nothing else writes ``subscriber.status``; a test checks that."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlmodel import Session, select

from digest.models import Event, Subscriber
from digest.timeutil import utcnow


class Status(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"
    COMPLAINED = "complained"


STATUSES = tuple(s.value for s in Status)
SUPPRESSED = (Status.UNSUBSCRIBED, Status.BOUNCED, Status.COMPLAINED)
_STRENGTH = {Status.PENDING: 0, Status.ACTIVE: 0, Status.UNSUBSCRIBED: 1, Status.BOUNCED: 2, Status.COMPLAINED: 3}


def allowed(current: Status, wanted: Status, *, consent: bool = False) -> bool:
    """Whether a reader may go from ``current`` to ``wanted`` (``consent``: fresh consent given)."""
    if current == wanted:
        return False
    if current in SUPPRESSED and wanted not in SUPPRESSED:
        return consent
    if current is Status.ACTIVE and wanted is Status.PENDING:
        return False
    return _STRENGTH[wanted] >= _STRENGTH[current]


def event_kind(current: Status, wanted: Status) -> str:
    """What the change is called in the reader's history and in stats."""
    if wanted is Status.ACTIVE and current is Status.PENDING:
        return "confirmed"
    if current in SUPPRESSED and wanted not in SUPPRESSED:
        return "resubscribed"
    return wanted.value


def change(
    session: Session,
    subscriber: Subscriber,
    wanted: Status,
    method: str,
    *,
    consent: bool = False,
    issue_id: int | None = None,
    detail: str = "",
    now: datetime | None = None,
) -> bool:
    """Move the reader to ``wanted`` when the rules allow it, recording why; False (and no
    change) when they do not or the reader is there already. The caller commits."""
    current = Status(subscriber.status)
    if not allowed(current, wanted, consent=consent):
        return False
    now = now or utcnow()
    subscriber.status, subscriber.updated_at = wanted.value, now
    session.add(subscriber)
    session.add(Event(subscriber_id=subscriber.id, issue_id=issue_id, kind=event_kind(current, wanted),
                      method=method, detail=detail[:500], created_at=now))  # fmt: skip
    return True


def change_by_id(
    session: Session,
    subscriber_id: int,
    wanted: Status,
    method: str,
    *,
    issue_id: int | None = None,
    detail: str = "",
    now: datetime | None = None,
) -> bool:
    """``change`` for a reader known by row id (the ledger's path), locking the row where the
    database can, so two senders bouncing one reader record one event."""
    query = select(Subscriber).where(Subscriber.id == subscriber_id).with_for_update()
    subscriber = session.exec(query).first()
    return subscriber is not None and change(
        session, subscriber, wanted, method, issue_id=issue_id, detail=detail, now=now
    )


def initial(requested: str | None, *, pending: bool = False) -> str:
    """The status a new reader starts in: what the operator's file says, else pending (double
    opt-in) or active."""
    if requested:
        return Status(requested).value
    return (Status.PENDING if pending else Status.ACTIVE).value
