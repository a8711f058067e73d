"""The sending engine: workers that drain the ledger of one issue over their own connections.

A worker claims a batch of rows, then goes window by window (``delivery.commit_every``
messages): one commit records the last window's outcomes and marks this window ``sending``
(checking each reader is still active), then each message is rendered (shared drafts),
rate-limited and sent as exact bytes. The ledger's ``Outbox`` holds the outcomes until
that next commit, so a crash leaves at most one window per connection unknown."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import Engine

from digest.config import DeliverySettings
from digest.db import IDLE_IN_TRANSACTION_MS, KEEPALIVE_COUNT, KEEPALIVE_IDLE, KEEPALIVE_INTERVAL, WalCheckpoints
from digest.deliver import ledger
from digest.deliver.ledger import DeliveryStatus
from digest.deliver.replies import MAILBOX_CONCERNS, Concern
from digest.deliver.returnpath import ReturnPath
from digest.deliver.transport import (
    DeliveryProblem,
    Next,
    PermanentFailure,
    Prepared,
    TemporaryFailure,
    Transport,
    UnknownOutcome,
)
from digest.errors import DigestError, RelayRefused, TransportError
from digest.models import Issue
from digest.render.compose import Composer
from digest.render.dkim import DkimSigner
from digest.timeutil import utcnow

TAKEOVER_CHECK = 0.5  # seconds between looks at other senders' claims, once this one has none
# The most a run waits for rows another sender's claim has locked and not committed: the
# server ends a cut-off sender's transaction within about two minutes (digest.db:
# end_idle_transactions); a sender stopped mid-claim (SIGSTOP) or behind a pooler may hold
# them for longer, and then the run ends with them left, and says so (send._finish).
LOCKED_WAIT = (IDLE_IN_TRANSACTION_MS / 1000 + KEEPALIVE_IDLE + KEEPALIVE_INTERVAL * KEEPALIVE_COUNT) + 60


class RateLimiter:
    """At most ``rate`` messages a second across all workers (0: no limit)."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self._next = time.monotonic()
        self._lock = threading.Lock()

    def wait(self) -> None:
        if not self.interval:
            return
        with self._lock:
            now = time.monotonic()
            at = max(now, self._next)
            self._next = at + self.interval
        if at > now:
            time.sleep(at - now)


@dataclass
class Refusals:
    """Refusals about us (login, policy, size, content...) of one kind in a row, across the
    workers of a run. ``limit`` in a row stop the run: the server will refuse the rest too,
    and those messages go back in the queue, for a run once the cause is mended."""

    limit: int
    concern: Concern | None = None
    ids: list[int] = field(default_factory=list)
    halted: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self, problem: DeliveryProblem | None, delivery_id: int = 0) -> RelayRefused | None:
        """Count a refusal (``None``: a message went out, or a reader's own refusal, which ends
        the streak); returns the error that stops the run when the streak reaches the limit."""
        with self._lock:
            concern = problem.concern if problem is not None else None
            if concern != self.concern and not self.halted:
                self.concern, self.ids = concern, []
            if problem is None or concern != self.concern:
                return None
            self.ids.append(delivery_id)
            if self.halted or len(self.ids) < self.limit:
                return None
            self.halted = True
        return RelayRefused(
            f"the mail server refused {len(self.ids)} messages in a row ({concern}): {problem.reply}; "
            "the run stopped and left them queued, with the rest"
        )

    def requeued(self) -> list[int]:
        """The streak's messages when it stopped the run: they go back in the queue."""
        with self._lock:
            return list(self.ids) if self.halted else []


@dataclass
class Run:
    """What the workers of one ``digest send`` share."""

    engine: Engine
    delivery: DeliverySettings  # the settings a send uses (sources.yaml's delivery:)
    return_path: ReturnPath  # MAIL FROM: the newsletter's address, or delivery.return_path (VERP: per reader)
    issue: Issue
    composer: Composer
    transport_factory: Callable[[], Transport]
    signer: DkimSigner | None
    limit: int | None
    rate: RateLimiter
    stop: threading.Event
    me: str = field(default_factory=ledger.worker_id)
    outcomes: Counter[str] = field(default_factory=Counter)
    tries: Counter[int] = field(default_factory=Counter)
    failure: DigestError | None = None
    on_message: Callable[[str], None] | None = None
    refusals: Refusals = field(default_factory=lambda: Refusals(10))
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _started: int = 0

    @property
    def issue_id(self) -> int:
        assert self.issue.id is not None
        return self.issue.id

    def take_slots(self, wanted: int) -> int:
        """How many of ``wanted`` more messages --limit allows (none when stopping)."""
        with self._lock:
            if self.stop.is_set():
                return 0
            allowed = wanted if self.limit is None else max(0, min(wanted, self.limit - self._started))
            self._started += allowed
            return allowed

    @property
    def limit_reached(self) -> bool:
        with self._lock:
            return self.limit is not None and self._started >= self.limit

    def give_back_slot(self) -> None:
        self.give_back_slots(1)

    def give_back_slots(self, count: int) -> None:
        with self._lock:
            self._started -= count

    def record(self, outcome: str) -> None:
        with self._lock:
            self.outcomes[outcome] += 1
        if self.on_message:
            self.on_message(outcome)

    def abort(self, error: DigestError) -> None:
        with self._lock:
            self.failure = self.failure or error
        self.stop.set()


def run_workers(run: Run, workers: int, checkpoints: bool = True) -> None:
    """``workers`` connections in threads of this process, until the issue is done or the run
    stops. ``checkpoints``: this process keeps SQLite's log short (sender processes leave
    that to their parent)."""
    threads = [threading.Thread(target=_worker, args=(run, f"{run.me}:{n}"), name=f"sender-{n}", daemon=True)
               for n in range(workers)]  # fmt: skip
    for thread in threads:
        thread.start()
    log = WalCheckpoints(run.engine) if checkpoints else None
    for thread in threads:
        while thread.is_alive():
            thread.join(0.2)
            if log is not None:
                log.tick()
    refused = run.refusals.requeued()
    if refused:  # every worker has committed its outcomes: the streak's failures go back in the queue
        requeued = ledger.requeue_refused(run.engine, refused)
        with run._lock:
            run.outcomes["failed"] -= requeued
            run.outcomes["requeued"] += requeued


def _worker(run: Run, me: str) -> None:
    """One connection; ``me`` names this worker's claims in the ledger."""
    try:
        transport = run.transport_factory()
        transport.connect()
    except DigestError as exc:
        run.abort(exc)
        return
    try:
        _drain(run, transport, me)
    except DigestError as exc:  # the server is gone, or the ledger cannot be read or written: stop, say why
        run.abort(exc)
    except BaseException:  # a bug: its traceback shows, and the run stops instead of waiting on this worker's rows
        run.abort(DigestError("a sender thread failed unexpectedly (a bug: see its traceback)"))
        raise
    finally:
        transport.close()


def _drain(run: Run, transport: Transport, me: str) -> None:
    delivery = run.delivery
    with ledger.Outbox(run.engine, me, delivery.lease_seconds, lambda outcome: _recorded(run, outcome)) as outbox:
        locked_since: float | None = None  # since when due rows have been locked by a claim not committed
        while not run.stop.is_set():
            ids = ledger.claim(run.engine, run.issue_id, me, delivery.batch, delivery.lease_seconds)
            if not ids:
                outbox.settle()
                wait = _next_retry_in(run, me)
                if wait is not None and wait > 0:  # a retry due later
                    run.stop.wait(min(max(wait, 0.01), 1.0))
                elif _others_at_work(run, me):
                    run.stop.wait(TAKEOVER_CHECK)
                elif run.limit_reached or (wait is None and not ledger.queued_unclaimed(run.engine, run.issue_id)):
                    return
                else:  # due, claimed by nobody, and the claim skipped them: another's claim holds them
                    locked_since = locked_since or time.monotonic()
                    if time.monotonic() - locked_since > LOCKED_WAIT:
                        return
                    run.stop.wait(TAKEOVER_CHECK)
                continue
            locked_since = None
            claimed = ledger.load(run.engine, ids)
            run.composer.prefetch(item.subscriber.segment_key for item in claimed)
            for start in range(0, len(claimed), delivery.commit_every):
                window = claimed[start : start + delivery.commit_every]
                allowed = run.take_slots(len(window))
                if allowed < len(window):
                    ledger.release(run.engine, [c.delivery_id for c in claimed[start + allowed :]], me)
                    if allowed:
                        _window(run, transport, outbox, window[:allowed])
                    return
                _window(run, transport, outbox, window)


def _window(run: Run, transport: Transport, outbox: ledger.Outbox, window: Sequence[ledger.Claimed]) -> None:
    """Mark the window sending (committing the last window's outcomes with it), then send it;
    its outcomes wait in the outbox for the next window's commit."""
    states = outbox.begin([item.delivery_id for item in window])
    for item in window:
        if states[item.delivery_id] is ledger.Begun.LOST:
            run.give_back_slot()
        elif states[item.delivery_id] is ledger.Begun.SKIPPED:
            run.record("skipped")
    sending = [item for item in window if states[item.delivery_id] is ledger.Begun.SENDING]
    sending = _without_thin(run, outbox, sending)
    # made first: an envelope sent ahead declares its SIZE
    messages = [_message(run, item, transport.stuffs) for item in sending]
    senders = [run.return_path.for_reader(item.subscriber.public_id, run.issue_id) for item in sending]  # VERP
    for position, item in enumerate(sending):
        if run.stop.is_set():  # stopping: rows marked but not sent go back
            run.give_back_slots(len(sending) - position)
            outbox.settle(revert=[i.delivery_id for i in sending[position:]])
            return
        ahead = position + 1 < len(sending)
        then = Next(sending[position + 1].subscriber.email, len(messages[position + 1].data),
                    senders[position + 1]) if ahead else None  # fmt: skip
        try:
            outbox.record(_deliver(run, transport, item, senders[position], messages[position], then))
        except TransportError as exc:  # the server is gone: this one waits, the rest go back
            outbox.record(_defer(run, item.delivery_id, str(exc)))
            outbox.settle(revert=[i.delivery_id for i in sending[position + 1 :]])
            raise


def _without_thin(run: Run, outbox: ledger.Outbox, sending: list[ledger.Claimed]) -> list[ledger.Claimed]:
    """The window's readers who get an email: one whose segment had too few picks this week
    (newsletter.min_picks) is skipped, the reason in the ledger, and sent nothing."""
    kept = []
    for item in sending:
        reason = run.composer.skip_reason(item.subscriber)
        if reason:
            outbox.record(ledger.Outcome(item.delivery_id, DeliveryStatus.SKIPPED, reason))
            run.give_back_slot()
        else:
            kept.append(item)
    return kept


def _recorded(run: Run, outcome: ledger.Outcome) -> None:
    """Count a committed outcome; a message left deferred may suppress a reader who keeps failing."""
    final_deferral = outcome.status == DeliveryStatus.DEFERRED and outcome.retry_at is None
    if outcome.status == DeliveryStatus.SKIPPED:
        with run._lock:
            run.outcomes["skipped_thin"] += 1  # (only the thin are skipped by an outcome; the rest when marked)
    run.record("retry" if outcome.status == DeliveryStatus.DEFERRED and not final_deferral else outcome.status)
    if final_deferral and outcome.concern in MAILBOX_CONCERNS:  # a relay's trouble is never the reader's
        limit = run.delivery.max_soft_failures
        ledger.note_soft_failure(run.engine, outcome.delivery_id, limit, run.issue_id)


def _others_at_work(run: Run, me: str) -> bool:
    """Whether other senders still hold rows of this issue, or there is more to claim. Rows
    of one that died (its pid is gone on this host, or its lease ran out) are taken over now:
    in flight, they become unknown; claimed, they come free, to be claimed next."""
    lost, freed = ledger.take_over(run.engine, run.issue_id)
    for _ in range(lost):
        run.record("unknown")
    return bool(freed) or ledger.claimed_by_others(run.engine, run.issue_id, me)


def _next_retry_in(run: Run, me: str) -> float | None:
    """Seconds until the next deferred message this worker may retry is due (its own, or
    nobody's), or None when there is none (another sender's wait for it, or take it over)."""
    due = ledger.next_due(run.engine, run.issue_id, me)
    return None if due is None else max(0.0, (due - utcnow()).total_seconds())


def _message(run: Run, item: ledger.Claimed, stuffs: bool) -> Prepared:
    """The reader's message, dot-stuffed already when the transport ``stuffs`` and nothing else
    needs the plain bytes."""
    if run.signer:  # DKIM signs the message itself; the transport stuffs it
        return Prepared(run.signer.sign(run.composer.message_for(item.subscriber, utcnow())))
    return Prepared(run.composer.message_for(item.subscriber, utcnow(), stuffed=stuffs), stuffed=stuffs)


def _deliver(
    run: Run, transport: Transport, item: ledger.Claimed, sender: str, message: Prepared, then: Next | None
) -> ledger.Outcome:
    """Send one message from ``sender`` (its row is marked sending); its outcome.
    ``then``: the next message of the window, whose envelope may go out right behind this body."""
    run.rate.wait()
    try:
        reply = transport.send(sender, item.subscriber.email, message, then)
    except TemporaryFailure as problem:
        return _defer(run, item.delivery_id, str(problem.reply), problem.concern)
    except PermanentFailure as problem:
        return _refused(run, item, problem)
    except UnknownOutcome as problem:
        return ledger.Outcome(item.delivery_id, DeliveryStatus.UNKNOWN, str(problem.reply))
    run.refusals.note(None)
    return ledger.Outcome(item.delivery_id, DeliveryStatus.SENT, str(reply))


def _refused(run: Run, item: ledger.Claimed, problem: PermanentFailure) -> ledger.Outcome:
    """A 5xx. The reader's mailbox does not exist: the message fails and the reader is bounced.
    Anything else is about us: the message fails, the reader is left alone, and a streak of
    the same refusal stops the run."""
    if problem.bounces_reader:
        run.refusals.note(None)
        return ledger.Outcome(item.delivery_id, DeliveryStatus.FAILED, str(problem.reply), bounce=True)
    stop = run.refusals.note(problem, item.delivery_id)
    if stop is not None:
        run.abort(stop)
    return ledger.Outcome(item.delivery_id, DeliveryStatus.FAILED, str(problem.reply))


def _defer(run: Run, delivery_id: int, reply: str, concern: Concern = Concern.CONNECTION) -> ledger.Outcome:
    """4xx: retry later in this run with backoff; after the last retry, leave it for the next run."""
    backoff = run.delivery.retry_backoff
    with run._lock:
        run.tries[delivery_id] += 1
        tries = run.tries[delivery_id]
    retry_at = utcnow() + timedelta(seconds=backoff[tries - 1]) if tries <= len(backoff) else None
    return ledger.Outcome(delivery_id, DeliveryStatus.DEFERRED, reply, retry_at, concern)
