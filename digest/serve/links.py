"""What the links in an email do, each to its own reader and only on purpose.

A link names a reader by public id (``digest.tokens``); a reader who was forgotten is no
one's, so their old links act on nobody. A link mailed before public ids came in names the
row id: it acts only on a reader who already existed then (``legacy_links_before``), never
on someone who got that row id later or arrived by import.

* ``unsubscribe``: at once, from any link (RFC 8058 one-click, or the page's button).
* ``ask_to_return``: anyone holding an unsubscribe link (a forwarded email) may ask, but
  only the mailbox owner can come back: the answer is a confirmation mail to the address,
  at most one an hour.
* ``confirm``: the link in that mail, which confirms that request only and for a week, or a
  double opt-in's; clicking it is fresh consent. A bounced or complained reader does not
  come back by a link from an email; only by signing up again (``digest.serve.signup``),
  which mails the address a link of its own."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Engine, or_, update
from sqlmodel import Session, col, select

from digest import status
from digest.db import session_scope
from digest.models import Event, Issue, Setting, Subscriber
from digest.status import SUPPRESSED, Status
from digest.timeutil import utcnow
from digest.tokens import Link

LEGACY_LINKS = "legacy_links_before"
ASKED = "asked_to_return"
ASK_AGAIN_AFTER = timedelta(hours=1)  # at most one confirmation mail an hour, whoever asks
CONFIRM_WITHIN = timedelta(days=7)  # a confirmation link to come back works this long


def reader_of(session: Session, link: Link) -> Subscriber | None:
    """The reader a genuine link names, or None (forgotten, or a legacy link to a row id reused since)."""
    if link.public_id is not None:
        return session.exec(select(Subscriber).where(Subscriber.public_id == link.public_id)).first()
    reader = session.get(Subscriber, link.legacy_row_id)
    cutoff = session.get(Setting, LEGACY_LINKS)
    if reader is None or cutoff is None or reader.created_at >= datetime.fromisoformat(cutoff.value):
        return None
    return reader


def unsubscribe(engine: Engine, link: Link, method: str) -> str | None:
    """Takes effect at once; returns the reader's public id, or None when the link is nobody's.
    Unsubscribing twice is harmless and records one event."""
    with session_scope(engine) as session:
        reader = reader_of(session, link)
        if reader is None:
            return None
        issue = session.get(Issue, link.issue_id) if link.issue_id else None
        status.change(session, reader, Status.UNSUBSCRIBED, method, issue_id=issue.id if issue else None)
        return reader.public_id


def ask_to_return(engine: Engine, link: Link, now: datetime | None = None) -> tuple[Subscriber, int] | None:
    """Someone asked to bring an unsubscribed reader back: the reader to mail a confirmation
    link to, with the request's time (the link names it), or None (nobody's link, not
    unsubscribed, or asked within the last hour). The reader's status does not change."""
    now = now or utcnow()
    with session_scope(engine) as session:
        reader = reader_of(session, link)
        if reader is None:
            return None
        asked = now.replace(microsecond=0)
        claimed = session.execute(  # one statement: two requests at once mail once
            update(Subscriber)
            .where(col(Subscriber.id) == reader.id, col(Subscriber.status) == Status.UNSUBSCRIBED)
            .where(
                or_(
                    col(Subscriber.asked_to_return_at).is_(None),
                    col(Subscriber.asked_to_return_at) < now - ASK_AGAIN_AFTER,
                )
            )
            .values(asked_to_return_at=asked)
        ).rowcount  # type: ignore[attr-defined]
        if not claimed:
            return None
        session.add(Event(subscriber_id=reader.id, kind=ASKED, method="link", created_at=now))
        return reader, int(asked.timestamp())


def confirm(engine: Engine, link: Link, now: datetime | None = None) -> bool:
    """A confirmation link clicked: fresh consent. A pending reader becomes active; so does an
    unsubscribed one whose request to come back this link answers (within a week), and a
    bounced or complained one who signed up again (the link mailed then). True when the
    reader is active now."""
    now = now or utcnow()
    with session_scope(engine) as session:
        reader = reader_of(session, link)
        if reader is None:
            return False
        if reader.status in SUPPRESSED and not _answers_request(reader, link, now):
            return False
        if reader.status == Status.PENDING or reader.status in SUPPRESSED:
            status.change(session, reader, Status.ACTIVE, "link", consent=True, now=now)
        return reader.status == Status.ACTIVE


def _answers_request(reader: Subscriber, link: Link, now: datetime) -> bool:
    asked = reader.asked_to_return_at
    return asked is not None and int(asked.timestamp()) == link.issue_id and now - asked < CONFIRM_WITHIN
