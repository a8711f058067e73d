"""The delivery ledger: one row per (issue, subscriber) and every state change committed.

Senders claim batches of rows (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite's single
writer serialises the claim), mark each row ``sending`` in its own commit before SMTP
DATA, and record the outcome in another. A row left in ``sending`` by a sender that died
becomes ``unknown``: reported, never resent unless the operator asks."""

from __future__ import annotations

import itertools
import os
import secrets
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, exists, func, literal, or_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, select

from digest import status
from digest.db import SQLITE_BUSY_MS, database_failure, session_scope
from digest.dbtypes import UTCDateTime
from digest.models import Delivery, Subscriber
from digest.preferences import Preferences
from digest.replies import MAILBOX_CONCERNS, concern_of
from digest.status import Status
from digest.timeutil import utcnow

STATUSES = ("queued", "sending", "sent", "failed", "deferred", "unknown", "skipped")
LOST = "the sender stopped between DATA and the reply"
SQLITE_RETRIES = 30_000  # with naps of up to 10 ms: minutes, as long as SQLite's own busy timeout


_SQLITE_WRITES = threading.Lock()


@contextmanager
def writing(engine: Engine) -> Iterator[None]:
    """SQLite has one writer: threads of this process queue here, where they wake at once,
    instead of in SQLite's busy handler, which sleeps in steps of up to 100 ms."""
    if engine.dialect.name != "sqlite":
        yield
        return
    with _SQLITE_WRITES:
        yield


def worker_id() -> str:
    """host:pid:nonce; a sender on this host whose pid is gone is known to be dead at once."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def _local(claimer: str) -> bool:
    return claimer.partition(":")[0] == socket.gethostname()


def _alive(claimer: str) -> bool:
    host, _, rest = claimer.partition(":")
    if host != socket.gethostname():
        return True  # another machine: only its lease can tell
    try:
        os.kill(int(rest.split(":")[0]), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


def enqueue(engine: Engine, issue_id: int, now: datetime | None = None) -> int:
    """Add a queued row for every active reader who has none for this issue yet."""
    now = now or utcnow()
    has_row = exists().where(col(Delivery.issue_id) == issue_id, col(Delivery.subscriber_id) == Subscriber.id)
    values: list[Any] = [literal(issue_id), Subscriber.id, literal("queued"), literal(0), literal(""),
                         literal(now, UTCDateTime), Subscriber.segment_key]  # fmt: skip
    # ids in the order senders claim rows (segment, then reader): a window's rows share a
    # few pages, so recording outcomes stays cheap when the list outgrows the page cache
    rows = select(*values).where(Subscriber.status == "active", ~has_row)
    rows = rows.order_by(col(Subscriber.segment_key), col(Subscriber.id))
    columns = ["issue_id", "subscriber_id", "status", "attempts", "reply", "updated_at", "segment_key"]
    with session_scope(engine) as session:
        dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
        statement = dialect.insert(Delivery).from_select(columns, rows)
        statement = statement.on_conflict_do_nothing(index_elements=["issue_id", "subscriber_id"])
        return int(session.execute(statement).rowcount or 0)  # type: ignore[attr-defined]


def recover(engine: Engine, issue_id: int, now: datetime | None = None) -> int:
    """At the start of a run: take over what dead senders left, and make the rows a previous
    run left deferred "for the next run" due now. Returns how many became unknown."""
    now = now or utcnow()
    lost, _ = take_over(engine, issue_id, now)
    with session_scope(engine) as session:
        session.execute(
            update(Delivery)
            .where(col(Delivery.issue_id) == issue_id, col(Delivery.status) == "deferred")
            .where(col(Delivery.next_attempt_at).is_(None))
            .values(next_attempt_at=now)
        )
    return lost


def take_over(engine: Engine, issue_id: int, now: datetime | None = None) -> tuple[int, int]:
    """Rows a dead sender left: ``sending`` becomes ``unknown`` (never resent silently), its
    other claims are released. Dead: on this host, its pid is gone (a live one keeps its rows
    however slow it is); elsewhere, its lease ran out. Writes nothing when nobody is dead.
    Returns (rows made unknown, rows released)."""
    now = now or utcnow()
    mine = col(Delivery.issue_id) == issue_id
    with session_scope(engine) as session:
        claimers = session.exec(
            select(Delivery.claimed_by).where(mine, col(Delivery.claimed_by).is_not(None)).distinct()
        )
        local = [c for c in claimers if c and _local(c)]
        dead = [c for c in local if not _alive(c)]
        expired = and_(col(Delivery.lease_until) < now, col(Delivery.claimed_by).not_in(local))  # other hosts'
        if not dead and session.exec(select(Delivery.id).where(mine, expired).limit(1)).first() is None:
            return 0, 0
    with writing(engine), session_scope(engine) as session:
        gone = or_(col(Delivery.claimed_by).in_(dead), expired)
        lost = session.execute(
            update(Delivery)
            .where(mine, col(Delivery.status) == "sending", gone)
            .values(
                status="unknown",
                reply=LOST,
                claimed_by=None,
                lease_until=None,
                updated_at=now,
            )
        ).rowcount  # type: ignore[attr-defined]
        freed = session.execute(
            update(Delivery)
            .where(mine, col(Delivery.status).in_(("queued", "deferred")), gone)
            .values(claimed_by=None, lease_until=None)
        ).rowcount  # type: ignore[attr-defined]
    return int(lost or 0), int(freed or 0)


def claimed_by_others(engine: Engine, issue_id: int, me: str) -> bool:
    """Whether rows of the issue still to send (or in flight) are claimed by another sender."""
    with session_scope(engine) as session:
        found = session.exec(
            select(Delivery.id)
            .where(Delivery.issue_id == issue_id, col(Delivery.status).in_(("queued", "deferred", "sending")))
            .where(col(Delivery.claimed_by).is_not(None), col(Delivery.claimed_by) != me)
            .limit(1)
        ).first()
    return found is not None


def claim(engine: Engine, issue_id: int, me: str, limit: int, lease: float, now: datetime | None = None) -> list[int]:
    """Claim up to ``limit`` due rows, segment by segment; returns their ids.

    One statement picks and claims (``UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP
    LOCKED)``), so two senders never race between choosing rows and taking them: an empty
    answer means there is really nothing to claim now."""
    now = now or utcnow()
    until = now + timedelta(seconds=lease)
    due = or_(
        col(Delivery.status) == "queued",
        and_(col(Delivery.status) == "deferred", col(Delivery.next_attempt_at) <= now),
    )
    free = or_(col(Delivery.claimed_by).is_(None), col(Delivery.lease_until) < now, col(Delivery.claimed_by) == me)
    batch = (
        select(Delivery.id)
        .where(Delivery.issue_id == issue_id, due, free)
        .order_by(col(Delivery.segment_key), col(Delivery.id))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    with writing(engine), session_scope(engine) as session:
        session.execute(update(Delivery).where(col(Delivery.id).in_(batch)).values(claimed_by=me, lease_until=until))
        mine = select(Delivery.id).where(
            Delivery.issue_id == issue_id, col(Delivery.claimed_by) == me, col(Delivery.lease_until) == until
        )
        return [i for i in session.exec(mine.order_by(col(Delivery.segment_key), col(Delivery.id))) if i is not None]


def release(engine: Engine, ids: Sequence[int], me: str) -> None:
    if ids:
        with writing(engine), session_scope(engine) as session:
            session.execute(
                update(Delivery)
                .where(col(Delivery.id).in_(ids), col(Delivery.claimed_by) == me, col(Delivery.status) != "sending")
                .values(claimed_by=None, lease_until=None)
            )


@dataclass(frozen=True)
class Recipient:
    """What a sender needs of a reader, read without the ORM (the hot path reads thousands)."""

    id: int
    public_id: str
    email: str
    name: str
    segment_key: str
    roles: list[str]
    locations: list[str]
    remote: bool | None
    seniority: str
    audience: str

    @property
    def preferences(self) -> Preferences:
        return Preferences.of(self.roles, self.locations, self.remote, self.seniority, self.audience)


@dataclass(frozen=True)
class Claimed:
    delivery_id: int
    subscriber: Recipient


_RECIPIENT = (Subscriber.id, Subscriber.public_id, Subscriber.email, Subscriber.name, Subscriber.segment_key,
              Subscriber.roles, Subscriber.locations, Subscriber.remote, Subscriber.seniority,
              Subscriber.audience)  # fmt: skip


def load(engine: Engine, ids: Sequence[int]) -> list[Claimed]:
    """The claimed rows with their readers, in sending order (segment by segment)."""
    query = (
        select(Delivery.id, *_RECIPIENT)  # type: ignore[call-overload]
        .join(Subscriber)
        .where(col(Delivery.id).in_(ids))
        .order_by(col(Delivery.segment_key), col(Delivery.id))
    )
    with engine.connect() as conn:
        return [Claimed(row[0], Recipient(*row[1:])) for row in conn.execute(query)]


def begin_sending(engine: Engine, delivery_id: int, me: str, lease: float, now: datetime | None = None) -> str:
    """Just before DATA: 'sending' when the row is still ours and the reader still active (committed);
    'skipped' when the reader is suppressed now; 'lost' when another sender took the row."""
    now = now or utcnow()
    with writing(engine), session_scope(engine) as session:
        status = session.exec(select(Subscriber.status).join(Delivery).where(Delivery.id == delivery_id)).one_or_none()
        values: dict[str, object] = {"updated_at": now}
        if status != "active":
            values |= {"status": "skipped", "reply": f"subscriber is {status}", "claimed_by": None}
        else:
            values |= {"status": "sending", "attempts": Delivery.attempts + 1,
                       "lease_until": now + timedelta(seconds=lease)}  # fmt: skip
        changed = session.execute(
            update(Delivery)
            .where(col(Delivery.id) == delivery_id, col(Delivery.claimed_by) == me)
            .where(col(Delivery.status).in_(("queued", "deferred")))
            .values(**values)
        ).rowcount  # type: ignore[attr-defined]
    if not changed:
        return "lost"
    return "sending" if status == "active" else "skipped"


def finish(
    engine: Engine,
    delivery_id: int,
    status: str,
    reply: str,
    *,
    retry_at: datetime | None = None,
    bounce: bool = False,
    issue_id: int | None = None,
    now: datetime | None = None,
) -> None:
    """Record the outcome; a permanent refusal also marks the reader bounced."""
    now = now or utcnow()
    values: dict[str, object] = {
        "status": status,
        "reply": reply[:1000],
        "updated_at": now,
        "next_attempt_at": retry_at,
    }
    if status == "sent":
        values["sent_at"] = now
    if status != "deferred" or retry_at is None:
        values |= {"claimed_by": None, "lease_until": None}
    with writing(engine), session_scope(engine) as session:
        session.execute(update(Delivery).where(col(Delivery.id) == delivery_id).values(**values))
        if bounce:
            subscriber_id = session.exec(select(Delivery.subscriber_id).where(Delivery.id == delivery_id)).one()
            _mark_bounced(session, subscriber_id, issue_id, "smtp", reply[:500], now)


def _mark_bounced(
    session: Any, subscriber_id: int, issue_id: int | None, method: str, detail: str, now: datetime
) -> bool:
    """The reader becomes bounced (suppressed), with an event naming why; False if they were not
    active or pending (or bounced already)."""
    return status.change_by_id(session, subscriber_id, Status.BOUNCED, method, issue_id=issue_id, detail=detail,
                               now=now)  # fmt: skip


def _about_mailbox(reply: str) -> bool:
    """Whether a stored reply ("452 4.2.2 mailbox full") was about the reader's mailbox."""
    code = int(reply[:3]) if reply[:3].isdigit() else 0
    return concern_of(code, reply[4:], "RCPT") in MAILBOX_CONCERNS


def requeue_refused(engine: Engine, ids: Sequence[int]) -> int:
    """Messages a run stopped on (the server refused us, not the readers) go back in the
    queue, their reply kept, for the next run once the cause is mended."""
    if not ids:
        return 0
    with writing(engine), session_scope(engine) as session:
        return int(
            session.execute(
                update(Delivery)
                .where(col(Delivery.id).in_(ids), col(Delivery.status) == "failed")
                .values(status="queued", claimed_by=None, lease_until=None, next_attempt_at=None, updated_at=utcnow())
            ).rowcount  # type: ignore[attr-defined]
            or 0
        )


def resend_unknown(engine: Engine, issue_id: int) -> int:
    """The operator's decision: put ``unknown`` rows back in the queue."""
    with session_scope(engine) as session:
        return int(
            session.execute(
                update(Delivery)
                .where(col(Delivery.issue_id) == issue_id, col(Delivery.status) == "unknown")
                .values(status="queued", claimed_by=None, lease_until=None)
            ).rowcount  # type: ignore[attr-defined]
            or 0
        )


def counts(engine: Engine, issue_id: int) -> dict[str, int]:
    with session_scope(engine) as session:
        rows = session.exec(
            select(Delivery.status, func.count()).where(Delivery.issue_id == issue_id).group_by(Delivery.status)
        ).all()
    found = {status: 0 for status in STATUSES}
    found.update({status: int(n) for status, n in rows})
    return found


def pending(engine: Engine, issue_id: int) -> int:
    """Rows still to send in a later run or a later retry (queued, or deferred)."""
    found = counts(engine, issue_id)
    return found["queued"] + found["deferred"]


@dataclass(frozen=True)
class Outcome:
    delivery_id: int
    status: str
    reply: str
    retry_at: datetime | None = None
    concern: str = ""  # what a refusal was about (digest.replies.Concern)


_ACTIVE = (
    "EXISTS (SELECT 1 FROM subscriber WHERE subscriber.id = delivery.subscriber_id AND subscriber.status = 'active')"
)
_BEGIN = (
    "UPDATE delivery SET status = 'sending', attempts = attempts + 1, lease_until = ?, updated_at = ? "
    "WHERE id IN ({ids}) AND claimed_by = ? AND status IN ('queued', 'deferred') AND " + _ACTIVE + " RETURNING id"
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


class Stepper:
    """The hot path of one sender connection: plain SQL on a DBAPI connection of its own.

    ``commit`` records the outcomes of the last window of messages and marks the next
    window ``sending``, all in ONE transaction. A window is ``delivery.commit_every``
    messages, so after a crash at most that many rows per connection are left ``sending``
    (then reported unknown, never resent silently). A window of 1 is one commit per message."""

    def __init__(self, engine: Engine, me: str, lease: float) -> None:
        self.engine, self.me, self.lease = engine, me, timedelta(seconds=lease)
        self.conn = engine.raw_connection()
        self.cursor = self.conn.cursor()
        self._sqlite = engine.dialect.name == "sqlite"
        self._marker = "?" if self._sqlite else "%s"
        self._begin, self._finish, self._revert = self._sql(_BEGIN), self._sql(_FINISH), self._sql(_REVERT)
        self._dbapi_error: type[Exception] = engine.dialect.dbapi.Error  # type: ignore[union-attr]
        if self._sqlite:  # SQLite's busy handler naps 1 to 100 ms; commit() retries in 0.2 ms steps instead
            self.cursor.execute("PRAGMA busy_timeout=0")

    def _sql(self, text: str) -> str:
        return text if self._sqlite else text.replace("?", "%s")

    def _time(self, value: datetime | None) -> Any:
        """UTC without a zone, as UTCDateTime stores it (SQLite keeps it as text)."""
        if value is None:
            return None
        naive = value.astimezone(UTC).replace(tzinfo=None)
        return naive.isoformat(" ", "microseconds") if self._sqlite else naive

    def commit(self, outcomes: Sequence[Outcome], begin: Sequence[int], revert: Sequence[int] = ()) -> dict[int, str]:
        """Record ``outcomes``, put ``revert`` (marked but never sent) back, and mark ``begin``
        sending. Returns each begun id's state: 'sending', 'skipped' (the reader is no longer
        active) or 'lost' (another sender has the row)."""
        now = utcnow()
        t = self._time
        stamp, until = t(now), t(now + self.lease)
        finished = [(
            o.status, o.reply[:1000], stamp if o.status == "sent" else None, t(o.retry_at), stamp,
            self.me if o.status == "deferred" and o.retry_at else None,
            until if o.status == "deferred" and o.retry_at else None, o.delivery_id,
        ) for o in outcomes]  # fmt: skip
        for attempt in itertools.count():
            try:
                with writing(self.engine):
                    marked = self._transaction(finished, revert, begin, stamp, until)
                break
            except self._dbapi_error as exc:  # plain DBAPI here: say it as the rest of digest does
                if not (self._sqlite and "locked" in str(exc)) or attempt >= SQLITE_RETRIES:
                    raise database_failure(exc) from None
                time.sleep(min(0.0002 * (attempt + 1), 0.01))  # another process is writing: short naps
        lease = self.lease.total_seconds()
        return {i: "sending" if i in marked else begin_sending(self.engine, i, self.me, lease) for i in begin}

    def _transaction(
        self, finished: list[tuple[Any, ...]], revert: Sequence[int], begin: Sequence[int], stamp: Any, until: Any
    ) -> set[int]:
        marked: set[int] = set()
        try:
            if finished:
                self.cursor.executemany(self._finish, finished)
            if revert:
                self.cursor.executemany(self._revert, [(stamp, i, self.me) for i in revert])
            if begin:
                ids = ", ".join([self._marker] * len(begin))
                self.cursor.execute(self._begin.replace("{ids}", ids), (until, stamp, *begin, self.me))
                marked = {row[0] for row in self.cursor.fetchall()}
            self.conn.commit()
        except BaseException:
            self.conn.rollback()
            raise
        return marked

    def close(self) -> None:
        self.cursor.close()
        if self._sqlite:
            self.cursor = self.conn.cursor()
            self.cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
            self.cursor.close()
        self.conn.close()


def note_soft_failure(engine: Engine, delivery_id: int, limit: int, issue_id: int | None = None) -> bool:
    """A message left deferred at the end of a run because of the reader's mailbox (full, say):
    when the reader's mailbox has deferred them in ``limit`` issues, they are suppressed as
    bounced (delivery.max_soft_failures). Deferrals about the relay or the network never count."""
    now = utcnow()
    with writing(engine), session_scope(engine) as session:
        subscriber_id = session.exec(select(Delivery.subscriber_id).where(Delivery.id == delivery_id)).one()
        replies = session.exec(
            select(Delivery.reply).where(Delivery.subscriber_id == subscriber_id, Delivery.status == "deferred")
        ).all()
        deferred = sum(_about_mailbox(reply) for reply in replies)
        if deferred < limit:
            return False
        return _mark_bounced(session, subscriber_id, issue_id, "soft", f"deferred in {deferred} issue(s)", now)
