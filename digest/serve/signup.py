"""Signing up from the marketplace's page (``/subscribe``): double opt-in, no enumeration,
limits kept in the database.

* A new address becomes a ``pending`` reader with the choices posted; a pending one is mailed
  its confirmation again; an active one is left as it is; an unsubscribed, bounced or
  complained one stays as it is until the owner clicks the link mailed to the address
  (fresh consent: ``digest.serve.links.confirm``). The answer never says which it was.
* At most ``ADDRESS_MAILS`` confirmation mails to one address a day, however many ask, and
  at most ``CLIENT_POSTS`` signups from one client an hour. Both are counted in the
  ``throttle`` table, by keyed hashes (no address or IP stored), so they hold across every
  ``digest serve`` process sharing the database.
* An address its owner asked to be forgotten gets nothing: forgetting is not undone by a form."""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, delete, func
from sqlmodel import Session, col, select

from digest import status
from digest.addresses import find_reader
from digest.db import session_scope
from digest.models import Event, Subscriber, Throttle
from digest.serve.links import ASKED
from digest.status import SUPPRESSED, Status
from digest.subscribers import is_forgotten
from digest.subscribers.validation import clean_prefs

ADDRESS_MAILS, ADDRESS_WINDOW = 3, timedelta(days=1)
CLIENT_POSTS, CLIENT_WINDOW = 20, timedelta(hours=1)
KEPT = timedelta(days=1)  # attempts older than this count for nothing and are deleted


def _key(secret: bytes, kind: str, value: str) -> str:
    return hmac.new(secret, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()


def _count(session: Session, key: str, since: datetime) -> int:
    query = select(func.count()).select_from(Throttle).where(Throttle.key == key, col(Throttle.at) >= since)
    return int(session.exec(query).one())


def client_allowed(engine: Engine, secret: bytes, client: str, now: datetime) -> bool:
    """Count one signup from ``client``; False when it has made ``CLIENT_POSTS`` this hour."""
    key = _key(secret, "client", client)
    with session_scope(engine) as session:
        if _count(session, key, now - CLIENT_WINDOW) >= CLIENT_POSTS:
            return False
        session.add(Throttle(key=key, at=now))
        session.execute(delete(Throttle).where(col(Throttle.at) < now - KEPT))
        return True


def sign_up(
    engine: Engine, secret: bytes, email: str, record: dict[str, Any], now: datetime
) -> tuple[Subscriber, int] | None:
    """Record a signup for ``email`` (normalised) with ``record`` (name and ``--pref`` keys);
    returns the reader to mail a confirmation link to, with the time the link answers (0 for
    a double opt-in), or None when nothing is to be mailed."""
    key = _key(secret, "address", email)
    choices = clean_prefs(record)
    with session_scope(engine) as session:
        if _count(session, key, now - ADDRESS_WINDOW) >= ADDRESS_MAILS:
            return None
        reader = find_reader(session, email)
        asked = 0
        if reader is None:
            if is_forgotten(session, email):
                return None
            reader = Subscriber(email=email, **choices, status=status.initial(None, pending=True), created_at=now,
                                updated_at=now)  # fmt: skip
            session.add(reader)
            session.flush()
            session.add(Event(subscriber_id=reader.id, kind="signup", method="form", created_at=now))
        elif reader.status == Status.ACTIVE:
            return None
        elif reader.status == Status.PENDING:
            for field, value in choices.items():
                setattr(reader, field, value)
            reader.updated_at = now
        elif reader.status in SUPPRESSED:  # their choices stay as they are until they confirm
            reader.asked_to_return_at = now.replace(microsecond=0)
            asked = int(reader.asked_to_return_at.timestamp())
            session.add(Event(subscriber_id=reader.id, kind=ASKED, method="signup", created_at=now))
        session.add(reader)
        session.add(Throttle(key=key, at=now))
        session.flush()
        session.expunge(reader)
        return reader, asked
