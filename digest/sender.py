"""The sending engine: workers that drain the ledger of one issue over their own connections.

Each message: render (shared drafts), wait for the rate limit, check the reader is still
active and mark the row ``sending`` (one commit), send the exact bytes, record the outcome
(another commit). Progress is therefore saved per accepted message, never per batch."""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, func, or_
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import col, select

from digest import ledger
from digest.compose import Composer
from digest.config import Config
from digest.db import database_failure, session_scope
from digest.dkim_sign import DkimSigner
from digest.errors import DigestError
from digest.mime import sender_parts
from digest.models import Delivery, Issue
from digest.replies import MAILBOX_CONCERNS, Concern
from digest.timeutil import utcnow
from digest.transport import (
    DeliveryProblem,
    Next,
    PermanentFailure,
    TemporaryFailure,
    Transport,
    TransportError,
    UnknownOutcome,
)

PROGRESS_EVERY = 32  # a sender process tells the parent its count every this many messages
TAKEOVER_CHECK = 0.5  # seconds between looks at other senders' claims, once this one has none


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


class RelayRefused(DigestError):
    """The mail server refused message after message for a reason that is not the readers'."""


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
    config: Config
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
    def envelope_from(self) -> str:
        return sender_parts(self.config.newsletter.sender)[1]

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


def run_workers(run: Run, workers: int) -> None:
    threads = [threading.Thread(target=_worker, args=(run, f"{run.me}:{n}"), name=f"sender-{n}", daemon=True)
               for n in range(workers)]  # fmt: skip
    for thread in threads:
        thread.start()
    for thread in threads:
        while thread.is_alive():
            thread.join(0.2)
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
    except DigestError as exc:
        run.abort(exc)
    except SQLAlchemyError as exc:  # the ledger cannot be read or written: stop, say why
        run.abort(database_failure(exc))
    finally:
        transport.close()


def _drain(run: Run, transport: Transport, me: str) -> None:
    delivery = run.config.file.delivery
    stepper = ledger.Stepper(run.engine, me, delivery.lease_seconds)
    done: list[ledger.Outcome] = []  # outcomes not committed yet: they go with the next window's marks
    try:
        while not run.stop.is_set():
            ids = ledger.claim(run.engine, run.issue_id, me, delivery.batch, delivery.lease_seconds)
            if not ids:
                done = _settle(run, stepper, done)
                wait = _next_retry_in(run, me)
                if wait is None and not _others_at_work(run, me):
                    return
                run.stop.wait(TAKEOVER_CHECK if wait is None else min(max(wait, 0.01), 1.0))
                continue
            claimed = ledger.load(run.engine, ids)
            run.composer.prefetch(item.subscriber.segment_key for item in claimed)
            for start in range(0, len(claimed), delivery.commit_every):
                window = claimed[start : start + delivery.commit_every]
                allowed = run.take_slots(len(window))
                if allowed < len(window):
                    ledger.release(run.engine, [c.delivery_id for c in claimed[start + allowed :]], me)
                    if allowed:
                        done = _window(run, transport, stepper, window[:allowed], done)
                    return
                done = _window(run, transport, stepper, window, done)
    finally:
        _settle(run, stepper, done)
        stepper.close()


def _settle(
    run: Run, stepper: ledger.Stepper, done: list[ledger.Outcome], revert: Sequence[int] = ()
) -> list[ledger.Outcome]:
    """Commit what is waiting (outcomes, rows to put back); returns the new, empty list."""
    if done or revert:
        stepper.commit(done, [], revert)
        for outcome in done:
            _recorded(run, outcome)
    return []


def _window(
    run: Run, transport: Transport, stepper: ledger.Stepper, window: Sequence[ledger.Claimed],
    done: list[ledger.Outcome],
) -> list[ledger.Outcome]:  # fmt: skip
    """Commit the previous window's outcomes with this window's marks, then send this window.
    Returns its outcomes, to be committed with the next window (or by ``_settle``)."""
    states = stepper.commit(done, [item.delivery_id for item in window])
    for outcome in done:
        _recorded(run, outcome)
    done = []
    for item in window:
        if states[item.delivery_id] == "lost":
            run.give_back_slot()
        elif states[item.delivery_id] == "skipped":
            run.record("skipped")
    sending = [item for item in window if states[item.delivery_id] == "sending"]
    messages = [_message(run, item) for item in sending]  # made first: an envelope sent ahead declares its SIZE
    for position, item in enumerate(sending):
        if run.stop.is_set():  # stopping: rows marked but not sent go back
            run.give_back_slots(len(sending) - position)
            return _settle(run, stepper, done, [i.delivery_id for i in sending[position:]])
        ahead = position + 1 < len(sending)
        then = Next(sending[position + 1].subscriber.email, len(messages[position + 1][0])) if ahead else None
        try:
            result = _deliver(run, transport, item, messages[position], then)
        except TransportError as exc:  # the server is gone: this one waits, the rest go back
            rest = [i.delivery_id for i in sending[position + 1 :]]
            _settle(run, stepper, [*done, _defer(run, item.delivery_id, str(exc))], rest)
            raise
        if result is not None:
            done.append(result)
    return done


def _recorded(run: Run, outcome: ledger.Outcome) -> None:
    """Count a committed outcome; a message left deferred may suppress a reader who keeps failing."""
    final_deferral = outcome.status == "deferred" and outcome.retry_at is None
    run.record("retry" if outcome.status == "deferred" and not final_deferral else outcome.status)
    if final_deferral and outcome.concern in MAILBOX_CONCERNS:  # a relay's trouble is never the reader's
        limit = run.config.file.delivery.max_soft_failures
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
    with session_scope(run.engine) as session:
        due = session.exec(
            select(func.min(Delivery.next_attempt_at)).where(
                Delivery.issue_id == run.issue_id,
                Delivery.status == "deferred",
                col(Delivery.next_attempt_at).is_not(None),
                or_(col(Delivery.claimed_by).is_(None), col(Delivery.claimed_by) == me),
            )
        ).one()
    return None if due is None else max(0.0, (due - utcnow()).total_seconds())


def _message(run: Run, item: ledger.Claimed) -> tuple[bytes, bool]:
    """The reader's message, and whether it is dot-stuffed already."""
    if run.signer:  # DKIM signs the message itself; the transport stuffs it
        return run.signer.sign(run.composer.message_for(item.subscriber, utcnow())), False
    return run.composer.message_for(item.subscriber, utcnow(), stuffed=True), True


def _deliver(
    run: Run, transport: Transport, item: ledger.Claimed, message: tuple[bytes, bool], then: Next | None
) -> ledger.Outcome | None:
    """Send one message (its row is marked sending); its outcome, or None when already recorded.
    ``then``: the next message of the window, whose envelope may go out right behind this body."""
    run.rate.wait()
    try:
        reply = transport.send(run.envelope_from, item.subscriber.email, message[0], message[1], then)
    except TemporaryFailure as problem:
        return _defer(run, item.delivery_id, str(problem.reply), problem.concern)
    except PermanentFailure as problem:
        return _refused(run, item, problem)
    except UnknownOutcome as problem:
        return ledger.Outcome(item.delivery_id, "unknown", str(problem.reply))
    run.refusals.note(None)
    return ledger.Outcome(item.delivery_id, "sent", str(reply))


def _refused(run: Run, item: ledger.Claimed, problem: PermanentFailure) -> ledger.Outcome | None:
    """A 5xx. The reader's mailbox does not exist: the reader is bounced (the slow path, rare).
    Anything else is about us: the message fails, the reader is left alone, and a streak of
    the same refusal stops the run."""
    if problem.bounces_reader:
        ledger.finish(run.engine, item.delivery_id, "failed", str(problem.reply), bounce=True, issue_id=run.issue_id)
        run.refusals.note(None)
        run.record("failed")
        return None
    stop = run.refusals.note(problem, item.delivery_id)
    if stop is not None:
        run.abort(stop)
    return ledger.Outcome(item.delivery_id, "failed", str(problem.reply))


def _defer(run: Run, delivery_id: int, reply: str, concern: Concern = Concern.CONNECTION) -> ledger.Outcome:
    """4xx: retry later in this run with backoff; after the last retry, leave it for the next run."""
    backoff = run.config.file.delivery.retry_backoff
    with run._lock:
        run.tries[delivery_id] += 1
        tries = run.tries[delivery_id]
    retry_at = utcnow() + timedelta(seconds=backoff[tries - 1]) if tries <= len(backoff) else None
    return ledger.Outcome(delivery_id, "deferred", reply, retry_at, concern)


def _stop_with_parent(stop: threading.Event, parent: int) -> None:
    """A sender process stops (finishing the message in flight) as soon as its parent dies,
    even by SIGKILL: Linux sends it SIGTERM (PR_SET_PDEATHSIG), and a watcher thread checks
    the parent anywhere else, or if the parent died before the request was made."""
    import ctypes
    import os
    import signal

    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)

    def watch() -> None:
        while not stop.wait(PARENT_CHECK):
            if os.getppid() != parent:
                stop.set()

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


PR_SET_PDEATHSIG = 1
PARENT_CHECK = 0.25  # seconds between looks at the parent


def run_processes(run: Run, workers: int, processes: int, progress: Callable[[int], None] | None = None) -> None:
    """Split ``workers`` connections over ``processes`` forked sender processes.

    The renderer's inlined frame and cards are made before the fork, so children share
    them; each child opens its own database connections and SMTP connections, and reports
    its outcomes back. SIGTERM to the parent reaches the children, which finish the
    messages in flight."""
    import gc
    import multiprocessing
    import os
    import signal

    context = multiprocessing.get_context("fork")
    run.composer.renderer.prime()
    run.engine.dispose()
    results: Any = context.Queue()
    done = context.Value("i", 0)
    per_process = [workers // processes + (1 if n < workers % processes else 0) for n in range(processes)]
    parent = os.getpid()
    children = [
        context.Process(target=_child, args=(run, max(1, threads), n, processes, results, done, parent), daemon=True)
        for n, threads in enumerate(per_process)
    ]
    gc.freeze()  # the collector would touch every inherited object and copy each page it sits on
    try:
        for child in children:
            child.start()
    finally:
        gc.unfreeze()
    seen = 0
    while any(child.is_alive() for child in children):
        if run.stop.is_set():
            for child in children:
                if child.pid and child.is_alive():
                    os.kill(child.pid, signal.SIGTERM)
        time.sleep(0.2)
        if progress and done.value != seen:
            progress(done.value - seen)
            seen = done.value
    for _ in children:
        try:
            outcomes, tries, failure = results.get(timeout=10)
        except queue.Empty:  # a child killed before it could report
            run.failure = run.failure or DigestError("a sender process stopped without reporting")
            continue
        run.outcomes.update(outcomes)
        run.tries.update(dict.fromkeys(tries, 1))
        if failure and run.failure is None:
            run.failure = DigestError(failure)
    for child in children:
        child.join()


def _child(run: Run, threads: int, number: int, processes: int, results: Any, done: Any, parent: int) -> None:
    import signal

    run.engine.dispose(close=False)  # never share the parent's pooled connections
    run.stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: run.stop.set())
    signal.signal(signal.SIGINT, lambda *_: run.stop.set())
    _stop_with_parent(run.stop, parent)
    run.rate = RateLimiter(1.0 / (run.rate.interval * processes) if run.rate.interval else 0)
    run.me = f"{ledger.worker_id()}:p{number}"  # this process's pid: a dead child is known dead at once

    unreported = 0
    lock = threading.Lock()

    def counted(outcome: str) -> None:  # the parent's progress bar, told every few messages
        nonlocal unreported
        with lock:
            unreported += outcome != "retry"
            if unreported >= PROGRESS_EVERY:
                report_progress()

    def report_progress() -> None:
        nonlocal unreported
        with done.get_lock():
            done.value += unreported
        unreported = 0

    run.on_message = counted
    try:
        run_workers(run, threads)
    finally:
        with lock:
            report_progress()
        results.put((dict(run.outcomes), list(run.tries), str(run.failure) if run.failure else None))
