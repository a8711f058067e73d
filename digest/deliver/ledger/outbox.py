"""The hot path of one sender connection: the ``Outbox`` commits a window of outcomes and
marks the next window ``sending`` in one transaction."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from digest.db import (
    RESET_TRANSACTION_LIMITS,
    SQLITE_BUSY_MS,
    database_errors,
    database_failure,
    end_idle_transactions,
)
from digest.deliver.ledger.rows import SQLITE_RETRIES, Begun, DeliveryStatus, _mark_bounced, writing
from digest.models import Delivery
from digest.timeutil import utcnow


@dataclass(frozen=True)
class Outcome:
    """What became of one message, waiting in an ``Outbox`` to be committed."""

    delivery_id: int
    status: DeliveryStatus
    reply: str
    retry_at: datetime | None = None  # deferred: when to try again in this run (None: the next run)
    concern: str = ""  # what a refusal was about (digest.deliver.replies.Concern)
    bounce: bool = False  # failed because the reader's mailbox does not exist: the reader is bounced

    @property
    def keeps_claim(self) -> bool:
        """A deferral retried in this run stays this sender's."""
        return self.status == DeliveryStatus.DEFERRED and self.retry_at is not None


_ACTIVE = (
    "EXISTS (SELECT 1 FROM subscriber WHERE subscriber.id = delivery.subscriber_id AND subscriber.status = 'active')"
)
_BEGIN = (
    "UPDATE delivery SET status = 'sending', attempts = attempts + 1, lease_until = ?, updated_at = ? "
    "WHERE id IN ({ids}) AND claimed_by = ? AND status IN ('queued', 'deferred') AND " + _ACTIVE + " RETURNING id"
)
_SKIP = (  # the reader is no longer active: the row ends here
    "UPDATE delivery SET status = 'skipped', claimed_by = NULL, lease_until = NULL, updated_at = ?, "
    "reply = 'subscriber is ' || COALESCE((SELECT subscriber.status FROM subscriber "
    "WHERE subscriber.id = delivery.subscriber_id), 'gone') "
    "WHERE id IN ({ids}) AND claimed_by = ? AND status IN ('queued', 'deferred') AND NOT " + _ACTIVE + " RETURNING id"
)
_FINISH = (
    "UPDATE delivery SET status = ?, reply = ?, sent_at = ?, next_attempt_at = ?, updated_at = ?, "
    "claimed_by = ?, lease_until = ? WHERE id = ?"
)
_REVERT = (  # marked sending, never sent: back to where it was
    "UPDATE delivery SET status = CASE WHEN next_attempt_at IS NULL THEN 'queued' ELSE 'deferred' END, "
    "attempts = attempts - 1, claimed_by = NULL, lease_until = NULL, updated_at = ? "
    "WHERE id = ? AND status = 'sending' AND claimed_by = ?"
)


class Outbox:
    """One sender connection's writes to the ledger: the only path by which a claimed row
    becomes ``sending`` and then gets its outcome.

    ``begin`` commits the outcomes waiting from the last window of messages and marks the
    next window ``sending``, all in ONE transaction; ``record`` puts an outcome in the
    waiting list; ``settle`` commits what waits (and puts back rows marked but never sent).
    A window is ``delivery.commit_every`` messages, so after a crash at most that many rows
    per connection are left ``sending`` (then reported unknown, never resent silently).
    ``on_committed`` hears of every outcome once it is on disk.

    The hot path runs plain SQL through the driver's cursor on a connection of its own
    (thousands of rows a second); the transaction, and the rare bounce written through the
    ORM, are SQLAlchemy's on that same connection."""

    def __init__(
        self, engine: Engine, me: str, lease: float, on_committed: Callable[[Outcome], None] = lambda _: None
    ) -> None:
        self.engine, self.me, self.lease = engine, me, timedelta(seconds=lease)
        self.on_committed = on_committed
        self.waiting: list[Outcome] = []
        self._sqlite = engine.dialect.name == "sqlite"
        self._marker = "?" if self._sqlite else "%s"
        self._begin, self._skip, self._finish, self._revert = map(self._sql, (_BEGIN, _SKIP, _FINISH, _REVERT))
        self._dbapi_error: type[Exception] = engine.dialect.dbapi.Error  # type: ignore[union-attr]
        with database_errors():
            self.conn = engine.connect()
            end_idle_transactions(self.conn, local=False)  # its windows' transactions (RESET on release)
            self.conn.commit()
        self.cursor = self.conn.connection.cursor()
        if self._sqlite:  # SQLite's busy handler naps 1 to 100 ms; _commit retries in 0.2 ms steps instead
            self.cursor.execute("PRAGMA busy_timeout=0")

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def record(self, outcome: Outcome) -> None:
        """An outcome to commit with the next window's marks (or by ``settle``)."""
        self.waiting.append(outcome)

    def begin(self, ids: Sequence[int]) -> dict[int, Begun]:
        """Commit what waits and mark ``ids`` sending. Returns each id's state: SENDING,
        SKIPPED (the reader is no longer active) or LOST (another sender has the row)."""
        marked, skipped = self._commit(ids, ())
        return {i: Begun.SENDING if i in marked else Begun.SKIPPED if i in skipped else Begun.LOST for i in ids}

    def settle(self, revert: Sequence[int] = ()) -> None:
        """Commit what waits; ``revert``: rows marked sending but never sent go back."""
        if self.waiting or revert:
            self._commit((), revert)

    def _sql(self, text: str) -> str:
        return text if self._sqlite else text.replace("?", "%s")

    def _time(self, value: datetime | None) -> Any:
        """UTC without a zone, as UTCDateTime stores it (SQLite keeps it as text)."""
        if value is None:
            return None
        naive = value.astimezone(UTC).replace(tzinfo=None)
        return naive.isoformat(" ", "microseconds") if self._sqlite else naive

    def _commit(self, begin: Sequence[int], revert: Sequence[int]) -> tuple[set[int], set[int]]:
        outcomes, now = self.waiting, utcnow()
        for attempt in itertools.count():
            try:
                with writing(self.engine):
                    marked = self._transaction(outcomes, revert, begin, now)
                break
            except (DBAPIError, self._dbapi_error) as exc:  # say it as the rest of digest does
                if not (self._sqlite and _busy(exc)) or attempt >= SQLITE_RETRIES:
                    raise database_failure(exc) from None
                time.sleep(min(0.0002 * (attempt + 1), 0.01))  # another process is writing: short naps
        self.waiting = []
        for outcome in outcomes:
            self.on_committed(outcome)
        return marked

    def _transaction(
        self, outcomes: Sequence[Outcome], revert: Sequence[int], begin: Sequence[int], now: datetime
    ) -> tuple[set[int], set[int]]:
        t, cursor = self._time, self.cursor
        stamp, until = t(now), t(now + self.lease)
        marked: set[int] = set()
        skipped: set[int] = set()
        transaction = self.conn.begin()
        try:
            if outcomes:
                cursor.executemany(self._finish, [(
                    str(o.status), o.reply[:1000], stamp if o.status == DeliveryStatus.SENT else None,
                    t(o.retry_at), stamp, self.me if o.keeps_claim else None, until if o.keeps_claim else None,
                    o.delivery_id,
                ) for o in outcomes])  # fmt: skip
                self._bounce([o for o in outcomes if o.bounce], now)
            if revert:
                cursor.executemany(self._revert, [(stamp, i, self.me) for i in revert])
            if begin:
                marked = self._returning(self._begin, begin, (until, stamp), (self.me,))
                rest = [i for i in begin if i not in marked]
                skipped = self._returning(self._skip, rest, (stamp,), (self.me,)) if rest else set()
            transaction.commit()
        except BaseException:
            transaction.rollback()
            raise
        return marked, skipped

    def _returning(self, sql: str, ids: Sequence[int], before: tuple[Any, ...], after: tuple[Any, ...]) -> set[int]:
        """Run ``sql`` for the rows ``ids`` (its ``{ids}`` list); the ids it changed."""
        self.cursor.execute(sql.replace("{ids}", ", ".join([self._marker] * len(ids))), (*before, *ids, *after))
        return {row[0] for row in self.cursor.fetchall()}

    def _bounce(self, outcomes: Sequence[Outcome], now: datetime) -> None:
        """Readers whose mailbox does not exist become bounced, in the outcome's transaction."""
        if not outcomes:
            return
        with Session(self.conn) as session:  # joins the open transaction; never commits it
            for outcome in outcomes:
                row = session.get(Delivery, outcome.delivery_id)
                if row is not None:
                    _mark_bounced(session, row.subscriber_id, row.issue_id, "smtp", outcome.reply[:500], now)
            session.flush()

    def close(self) -> None:
        """Commit what waits (a failure to is the caller's to know), then give the connection back."""
        try:
            self.settle()
        finally:
            self._release()

    def _release(self) -> None:
        try:
            if self._sqlite:  # the pooled connection waits for locks as every other one does
                self.cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
            else:  # and its transactions may be idle again, as everyone else's
                self.cursor.execute(RESET_TRANSACTION_LIMITS)
                self.conn.connection.commit()
            self.cursor.close()
        except self._dbapi_error:  # a connection that cannot be put right is not pooled again
            self.conn.invalidate()
        self.conn.close()


def _busy(exc: BaseException) -> bool:
    """SQLite's "database is locked": another process is writing (the error itself, not the
    SQL or the replies in it)."""
    error = getattr(exc, "orig", exc)
    return str(getattr(error, "sqlite_errorname", "")).startswith(("SQLITE_BUSY", "SQLITE_LOCKED"))
