"""The ledger's rows, set by set: statuses, enqueueing, claims and takeovers, counts and
the reads the rest of digest needs (a dry run's readers, a reader's history)."""

from __future__ import annotations

import os
import secrets
import socket
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Engine, and_, case, delete, exists, func, literal, or_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from digest import status
from digest.db import connection, database_errors, end_idle_transactions, session_scope
from digest.dbtypes import UTCDateTime
from digest.deliver.replies import MAILBOX_CONCERNS, concern_of
from digest.models import Delivery, Feedback, Issue, Segment, Subscriber
from digest.preferences import Preferences
from digest.status import Status
from digest.timeutil import utcnow


class DeliveryStatus(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    DEFERRED = "deferred"
    UNKNOWN = "unknown"
    SKIPPED = "skipped"


class Begun(StrEnum):
    """What marking a claimed row ``sending`` found."""

    SENDING = "sending"
    SKIPPED = "skipped"  # the reader is no longer active: the row is skipped
    LOST = "lost"  # another sender has the row now


STATUSES = tuple(DeliveryStatus)
_SETTLED = (DeliveryStatus.SENT, DeliveryStatus.FAILED, DeliveryStatus.UNKNOWN, DeliveryStatus.SKIPPED)
_TO_SEND = (DeliveryStatus.QUEUED, DeliveryStatus.DEFERRED)
ANALYZE_AFTER = 10_000  # rows to send: PostgreSQL's statistics are refreshed first (refresh_statistics)
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


def due(now: datetime) -> Any:
    """Readers not pausing at ``now`` (a pause ends at ``paused_until``)."""
    return or_(col(Subscriber.paused_until).is_(None), col(Subscriber.paused_until) <= now)


def _has_row(issue_id: int) -> Any:
    """The reader (of the outer query) has a row for this issue."""
    return exists().where(col(Delivery.issue_id) == issue_id, col(Delivery.subscriber_id) == Subscriber.id)


def pausing(engine: Engine, issue_id: int, now: datetime | None = None) -> int:
    """Active readers left out of the issue because they pause (no row for it)."""
    query = select(func.count()).select_from(Subscriber).where(Subscriber.status == "active", ~due(now or utcnow()))
    with session_scope(engine) as session:
        return int(session.exec(query.where(~_has_row(issue_id))).one())


def enqueue(engine: Engine, issue_id: int, now: datetime | None = None) -> int:
    """Add a queued row for every active reader who has none for this issue yet and is not
    pausing. A pause or a change of preferences made later leaves the row as it is: it takes
    effect from the next issue."""
    now = now or utcnow()
    values: list[Any] = [literal(issue_id), Subscriber.id, literal(str(DeliveryStatus.QUEUED)), literal(0),
                         literal(""), literal(now, UTCDateTime), Subscriber.segment_key]  # fmt: skip
    # ids in the order senders claim rows (segment, then reader): a window's rows share a
    # few pages, so recording outcomes stays cheap when the list outgrows the page cache
    rows = select(*values).where(Subscriber.status == "active", due(now), ~_has_row(issue_id))
    rows = rows.order_by(col(Subscriber.segment_key), col(Subscriber.id))
    columns = ["issue_id", "subscriber_id", "status", "attempts", "reply", "updated_at", "segment_key"]
    with session_scope(engine) as session:
        dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
        statement = dialect.insert(Delivery).from_select(columns, rows)
        statement = statement.on_conflict_do_nothing(index_elements=["issue_id", "subscriber_id"])
        return int(session.execute(statement).rowcount or 0)  # type: ignore[attr-defined]


def refresh_statistics(engine: Engine, pending: int) -> None:
    """PostgreSQL plans a claim from its statistics of the table: just after a big enqueue
    (before autovacuum's next look) they say there are few queued rows, and the planner sorts
    all of them at every claim instead of reading the index in order (a 1,000,000-reader
    send ran at 600 msg/s that way). With ``pending`` rows to send (ANALYZE_AFTER or more),
    ANALYZE samples the table; it blocks no reader or writer. Nothing on SQLite, whose plan
    needs no statistics."""
    if pending < ANALYZE_AFTER or engine.dialect.name != "postgresql":
        return
    with database_errors(), engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE delivery")
        conn.commit()


def unfrozen(engine: Engine, issue_id: int) -> list[Preferences]:
    """The preferences of each segment rows still to send were queued in but the issue has not
    ranked yet (readers who came or changed after the build), read from a reader still in it."""
    frozen = exists().where(col(Segment.issue_id) == issue_id, col(Segment.key) == Delivery.segment_key)
    first = (
        select(func.min(Delivery.subscriber_id))
        .join(Subscriber, col(Subscriber.id) == col(Delivery.subscriber_id))
        .where(col(Delivery.issue_id) == issue_id, col(Delivery.status).in_(_TO_SEND))
        .where(col(Subscriber.segment_key) == col(Delivery.segment_key), ~frozen)
        .group_by(col(Delivery.segment_key))
    )
    with session_scope(engine) as session:
        return [r.preferences for r in session.exec(select(Subscriber).where(col(Subscriber.id).in_(first)))]


def recover(engine: Engine, issue_id: int, now: datetime | None = None) -> int:
    """At the start of a run: take over what dead senders left, and make the rows a previous
    run left deferred "for the next run" due now. Returns how many became unknown."""
    now = now or utcnow()
    lost, _ = take_over(engine, issue_id, now)
    with session_scope(engine) as session:
        end_idle_transactions(session.connection())
        session.execute(
            update(Delivery)
            .where(col(Delivery.issue_id) == issue_id, col(Delivery.status) == DeliveryStatus.DEFERRED)
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
        live = col(Delivery.status).in_((*_TO_SEND, DeliveryStatus.SENDING))  # a row sent or failed keeps no claim
        claimers = session.exec(
            select(Delivery.claimed_by).where(mine, live, col(Delivery.claimed_by).is_not(None)).distinct()
        )
        local = [c for c in claimers if c and _local(c)]
        dead = [c for c in local if not _alive(c)]
        expired = and_(col(Delivery.lease_until) < now, col(Delivery.claimed_by).not_in(local))  # other hosts'
        if not dead and session.exec(select(Delivery.id).where(mine, live, expired).limit(1)).first() is None:
            return 0, 0
    with writing(engine), session_scope(engine) as session:
        end_idle_transactions(session.connection())
        gone = or_(col(Delivery.claimed_by).in_(dead), expired)
        lost = session.execute(
            update(Delivery)
            .where(mine, col(Delivery.status) == DeliveryStatus.SENDING, gone)
            .values(
                status=DeliveryStatus.UNKNOWN,
                reply=LOST,
                claimed_by=None,
                lease_until=None,
                updated_at=now,
            )
        ).rowcount  # type: ignore[attr-defined]
        freed = session.execute(
            update(Delivery)
            .where(mine, col(Delivery.status).in_(_TO_SEND), gone)
            .values(claimed_by=None, lease_until=None)
        ).rowcount  # type: ignore[attr-defined]
    return int(lost or 0), int(freed or 0)


def claimed_by_others(engine: Engine, issue_id: int, me: str) -> bool:
    """Whether rows of the issue still to send (or in flight) are claimed by another sender."""
    with session_scope(engine) as session:
        found = session.exec(
            select(Delivery.id)
            .where(Delivery.issue_id == issue_id, col(Delivery.status).in_((*_TO_SEND, DeliveryStatus.SENDING)))
            .where(col(Delivery.claimed_by).is_not(None), col(Delivery.claimed_by) != me)
            .limit(1)
        ).first()
    return found is not None


def queued_unclaimed(engine: Engine, issue_id: int) -> bool:
    """Whether queued rows of the issue are claimed by nobody. Asked after a claim came back
    empty, yes means they are locked by a claim of another sender's not yet committed (one
    cut off mid-claim, until the server ends its transaction): they may come free again."""
    with session_scope(engine) as session:
        found = session.exec(
            select(Delivery.id)
            .where(Delivery.issue_id == issue_id, Delivery.status == DeliveryStatus.QUEUED)
            .where(col(Delivery.claimed_by).is_(None))
            .limit(1)
        ).first()
    return found is not None


def claim(engine: Engine, issue_id: int, me: str, limit: int, lease: float, now: datetime | None = None) -> list[int]:
    """Claim up to ``limit`` due rows, retries that are due first, then the queued ones,
    segment by segment; returns their ids in segment order.

    Each statement picks and claims (``UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP
    LOCKED) RETURNING``), so two senders never race between choosing rows and taking them:
    an empty answer means nothing is free to claim now (rows another sender's transaction
    has locked are skipped, not waited for: see ``queued_unclaimed``). Each picks rows of one
    status, so it walks the (issue, status, segment, id) index in order and stops at
    ``limit``: a pick over both statuses at once sorted every row of the issue, at every
    claim (a million readers' send spent most of its time there)."""
    now = now or utcnow()
    until = now + timedelta(seconds=lease)
    free = or_(col(Delivery.claimed_by).is_(None), col(Delivery.lease_until) < now, col(Delivery.claimed_by) == me)
    picks = (
        and_(col(Delivery.status) == DeliveryStatus.DEFERRED, col(Delivery.next_attempt_at) <= now),
        col(Delivery.status) == DeliveryStatus.QUEUED,
    )
    claimed: list[tuple[str, int]] = []
    with writing(engine), session_scope(engine) as session:
        end_idle_transactions(session.connection())  # a claimer cut off mid-claim keeps no locks for long
        for due in picks:
            if len(claimed) >= limit:
                break
            batch = (
                select(Delivery.id)
                .where(Delivery.issue_id == issue_id, due, free)
                .order_by(col(Delivery.segment_key), col(Delivery.id))
                .limit(limit - len(claimed))
                .with_for_update(skip_locked=True)
            )
            taken = session.execute(
                update(Delivery)
                .where(col(Delivery.id).in_(batch))
                .values(claimed_by=me, lease_until=until)
                .returning(col(Delivery.segment_key), col(Delivery.id))
                .execution_options(synchronize_session=False)
            )
            claimed += [(key, int(i)) for key, i in taken]
    return [i for _, i in sorted(claimed)]


def release(engine: Engine, ids: Sequence[int], me: str) -> None:
    if ids:
        with writing(engine), session_scope(engine) as session:
            end_idle_transactions(session.connection())
            session.execute(
                update(Delivery)
                .where(col(Delivery.id).in_(ids), col(Delivery.claimed_by) == me)
                .where(col(Delivery.status) != DeliveryStatus.SENDING)
                .values(claimed_by=None, lease_until=None)
            )


@dataclass(frozen=True)
class Recipient:
    """What a sender needs of a reader, read without the ORM (the hot path reads thousands).
    ``segment_key`` is the delivery row's, from when it was queued: a reader who changes
    their preferences during a send gets this issue as it was meant for them."""

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


_RECIPIENT = (Subscriber.id, Subscriber.public_id, Subscriber.email, Subscriber.name, Delivery.segment_key,
              Subscriber.roles, Subscriber.locations, Subscriber.remote, Subscriber.seniority,
              Subscriber.audience)  # fmt: skip


def mailed(engine: Engine, issue_id: int, subscriber_id: int) -> Recipient | None:
    """The reader as their message of this issue went out (their delivery's segment), or None
    when none did (no row, or one not sent: a message of unknown fate counts as sent)."""
    query = (
        select(*_RECIPIENT)  # type: ignore[call-overload]
        .select_from(Delivery)
        .join(Subscriber)
        .where(col(Delivery.issue_id) == issue_id, col(Delivery.subscriber_id) == subscriber_id)
        .where(col(Delivery.status).in_((DeliveryStatus.SENT, DeliveryStatus.UNKNOWN)))
    )
    with connection(engine) as conn:
        row = conn.execute(query).first()
    return Recipient(*row) if row is not None else None


def sent_issues(engine: Engine) -> dict[int, datetime]:
    """Every issue that went to anyone, with when its first message went out: one index probe
    per issue (its first sent row by id), never a scan of the whole ledger."""
    first = (
        select(Delivery.sent_at)
        .where(col(Delivery.issue_id) == Issue.id, col(Delivery.status) == DeliveryStatus.SENT)
        .order_by(col(Delivery.id))
        .limit(1)
        .correlate(Issue)
        .scalar_subquery()
    )
    with connection(engine) as conn:
        rows = conn.execute(select(Issue.id, first.label("first")))
        return {int(issue_id): at for issue_id, at in rows if at is not None}


def load(engine: Engine, ids: Sequence[int]) -> list[Claimed]:
    """The claimed rows with their readers, in sending order (segment by segment)."""
    query = (
        select(Delivery.id, *_RECIPIENT)  # type: ignore[call-overload]
        .join(Subscriber)
        .where(col(Delivery.id).in_(ids))
        .order_by(col(Delivery.segment_key), col(Delivery.id))
    )
    with connection(engine) as conn:
        return [Claimed(row[0], Recipient(*row[1:])) for row in conn.execute(query)]


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
        end_idle_transactions(session.connection())
        return int(
            session.execute(
                update(Delivery)
                .where(col(Delivery.id).in_(ids), col(Delivery.status) == DeliveryStatus.FAILED)
                .values(status=DeliveryStatus.QUEUED, claimed_by=None, lease_until=None, next_attempt_at=None)
                .values(updated_at=utcnow())
            ).rowcount  # type: ignore[attr-defined]
            or 0
        )


def resend_unknown(engine: Engine, issue_id: int) -> int:
    """The operator's decision: put ``unknown`` rows back in the queue."""
    with session_scope(engine) as session:
        return int(
            session.execute(
                update(Delivery)
                .where(col(Delivery.issue_id) == issue_id, col(Delivery.status) == DeliveryStatus.UNKNOWN)
                .values(status=DeliveryStatus.QUEUED, claimed_by=None, lease_until=None)
            ).rowcount  # type: ignore[attr-defined]
            or 0
        )


def counts(engine: Engine, issue_id: int) -> dict[str, int]:
    with session_scope(engine) as session:
        rows = session.exec(
            select(Delivery.status, func.count()).where(Delivery.issue_id == issue_id).group_by(Delivery.status)
        ).all()
    found: dict[str, int] = dict.fromkeys(STATUSES, 0)
    found.update({status: int(n) for status, n in rows})
    return found


def pending(engine: Engine, issue_id: int) -> int:
    """Rows still to send in a later run or a later retry (queued, or deferred)."""
    found = counts(engine, issue_id)
    return sum(found[s] for s in _TO_SEND)


def next_due(engine: Engine, issue_id: int, me: str) -> datetime | None:
    """When the next deferred row this sender may retry is due (its own, or nobody's)."""
    with session_scope(engine) as session:
        return session.exec(
            select(func.min(Delivery.next_attempt_at)).where(
                Delivery.issue_id == issue_id,
                Delivery.status == DeliveryStatus.DEFERRED,
                col(Delivery.next_attempt_at).is_not(None),
                or_(col(Delivery.claimed_by).is_(None), col(Delivery.claimed_by) == me),
            )
        ).one()


def still_deferred(engine: Engine, ids: Sequence[int]) -> int:
    """How many of the rows ``ids`` are left deferred."""
    found = 0
    with session_scope(engine) as session:
        for start in range(0, len(ids), 500):
            found += session.exec(
                select(func.count())
                .select_from(Delivery)
                .where(col(Delivery.id).in_(ids[start : start + 500]), Delivery.status == DeliveryStatus.DEFERRED)
            ).one()
    return found


def discard_issue(engine: Engine, issue_id: int) -> int:
    """Delete an issue nobody has been sent (its queued and skipped rows go with it), in one
    statement, so a sender cannot slip in between a check and the delete. Returns 0 when it
    was deleted, else how many of its messages went out or were tried (nothing is deleted)."""
    tried = select(Delivery.id).where(
        Delivery.issue_id == issue_id,
        or_(  # a row requeued (--resend-unknown, a refusal streak) keeps its attempts: it was tried
            col(Delivery.status).not_in((DeliveryStatus.QUEUED, DeliveryStatus.SKIPPED)),
            col(Delivery.attempts) > 0, col(Delivery.sent_at).is_not(None), col(Delivery.reply) != "",
        ),
    )  # fmt: skip
    with session_scope(engine) as session:
        deleted = session.execute(delete(Issue).where(col(Issue.id) == issue_id, ~exists(tried)))
        if deleted.rowcount:  # type: ignore[attr-defined]
            return 0
        return int(session.exec(select(func.count()).select_from(tried.subquery())).one())


def unsent_readers(
    engine: Engine, issue_id: int, after: int, limit: int, now: datetime | None = None
) -> list[Subscriber]:
    """Active readers the issue has not reached yet (a row still to send, or no row and not
    pausing), by id after ``after``: what a dry run would render."""
    rows = select(Delivery.subscriber_id).where(Delivery.issue_id == issue_id)
    done = rows.where(col(Delivery.status).in_((*_SETTLED, DeliveryStatus.SENDING)))
    queued = rows.where(col(Delivery.status).in_(_TO_SEND))
    wanted = or_(due(now or utcnow()), col(Subscriber.id).in_(queued))
    with session_scope(engine) as session:
        return list(
            session.exec(
                select(Subscriber)
                .where(Subscriber.status == "active", col(Subscriber.id) > after, col(Subscriber.id).not_in(done))
                .where(wanted)
                .order_by(col(Subscriber.id))
                .limit(limit)
            ).all()
        )


THIN = "thin:"  # the reply of a row skipped because its reader had too few picks that week


def counts_by_issue(engine: Engine) -> dict[int, dict[str, int]]:
    """Rows per status, for every issue; ``skipped_thin``: the skipped whose reader had too few picks."""
    found: dict[int, dict[str, int]] = {}
    thin = (col(Delivery.status) == DeliveryStatus.SKIPPED) & col(Delivery.reply).startswith(THIN)
    with session_scope(engine) as session:
        rows = session.exec(
            select(Delivery.issue_id, Delivery.status, func.count(), func.sum(case((thin, 1), else_=0))).group_by(
                col(Delivery.issue_id), col(Delivery.status)
            )
        ).all()
    for issue_id, state, n, thin_rows in rows:
        counted = found.setdefault(issue_id, dict.fromkeys((*STATUSES, "skipped_thin"), 0))
        counted[state] = int(n)
        counted["skipped_thin"] += int(thin_rows or 0)
    return found


@dataclass(frozen=True)
class Attempt:
    """One row of a reader's history."""

    week: str
    status: str
    attempts: int
    reply: str
    sent_at: datetime | None
    updated_at: datetime


def history_of(session: Session, subscriber_id: int) -> list[Attempt]:
    """Every issue the reader was due, with what became of it, by week."""
    rows = session.exec(
        select(Issue.week, Delivery).join(Delivery).where(Delivery.subscriber_id == subscriber_id)
        .order_by(col(Issue.week))
    ).all()  # fmt: skip
    return [Attempt(week, d.status, d.attempts, d.reply, d.sent_at, d.updated_at) for week, d in rows]


def forget_reader(session: Session, subscriber_id: int) -> None:
    """Erase the reader's rows (the reader is being forgotten)."""
    session.execute(delete(Delivery).where(col(Delivery.subscriber_id) == subscriber_id))


def note_soft_failure(engine: Engine, delivery_id: int, limit: int, issue_id: int | None = None) -> bool:
    """A message left deferred at the end of a run because of the reader's mailbox (full, say):
    when the reader's mailbox has put them off in ``limit`` issues, they are suppressed as
    bounced (delivery.max_soft_failures). Deferrals about the relay or the network never count."""
    now = utcnow()
    with writing(engine), session_scope(engine) as session:
        end_idle_transactions(session.connection())
        subscriber_id = session.exec(select(Delivery.subscriber_id).where(Delivery.id == delivery_id)).one()
        return soft_limit_reached(session, subscriber_id, limit, issue_id, now)


def soft_limit_reached(session: Session, subscriber_id: int, limit: int, issue_id: int | None, now: datetime) -> bool:
    """Bounce the reader when ``limit`` issues have been put off by their mailbox: left deferred
    at the end of a run for the mailbox's sake, or reported later as delayed or refused for now
    (a DSN, a provider's soft bounce); each issue counts once, however many reports it had.
    True when this bounced them."""
    replies = session.exec(
        select(Delivery.issue_id, Delivery.reply).where(
            Delivery.subscriber_id == subscriber_id, Delivery.status == DeliveryStatus.DEFERRED
        )
    ).all()
    issues = {issue for issue, reply in replies if _about_mailbox(reply)}
    issues |= {
        issue
        for issue in session.exec(
            select(Feedback.issue_id).where(
                Feedback.subscriber_id == subscriber_id, Feedback.kind == "soft", col(Feedback.issue_id).is_not(None)
            )
        ).all()
        if issue is not None
    }
    if len(issues) < limit:
        return False
    return _mark_bounced(session, subscriber_id, issue_id, "soft", f"put off in {len(issues)} issue(s)", now)


@dataclass(frozen=True)
class Mailed:
    """A message that went out: the reader it went to, and the issue."""

    subscriber_id: int
    email: str
    issue_id: int


_WENT_OUT = (DeliveryStatus.SENT, DeliveryStatus.UNKNOWN)  # a message of unknown fate may have been delivered


def went_out(engine: Engine, issue_id: int, public_id: str) -> Mailed | None:
    """The message of this issue to the reader with this public id, if one went out (sent, or
    of unknown fate): what a bounce report must cite before it changes anyone."""
    query = (
        select(Delivery.subscriber_id, Subscriber.email, Delivery.issue_id)
        .join(Subscriber)
        .where(col(Delivery.issue_id) == issue_id, col(Subscriber.public_id) == public_id.lower())
        .where(col(Delivery.status).in_(_WENT_OUT))
    )
    with connection(engine) as conn:
        row = conn.execute(query).first()
    return Mailed(*row) if row is not None else None


def last_went_out(engine: Engine, email: str) -> Mailed | None:
    """The newest message that went out to this address: what a provider's authenticated
    event names when it cites no Message-ID of ours."""
    query = (
        select(Delivery.subscriber_id, Subscriber.email, Delivery.issue_id)
        .join(Subscriber)
        .where(col(Subscriber.email) == email.lower(), col(Delivery.status).in_(_WENT_OUT))
        .order_by(col(Delivery.issue_id).desc())
        .limit(1)
    )
    with connection(engine) as conn:
        row = conn.execute(query).first()
    return Mailed(*row) if row is not None else None
