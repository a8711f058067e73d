"""Sender processes: ``run_processes`` forks them, each runs the workers of ``digest.deliver.workers``
over its own connections, and they report their outcomes back to the parent."""

from __future__ import annotations

import contextlib
import ctypes
import gc
import multiprocessing
import os
import queue
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

from digest.db import WalCheckpoints
from digest.deliver import ledger
from digest.deliver.workers import RateLimiter, Run, run_workers
from digest.errors import DigestError

PROGRESS_EVERY = 32  # a sender process tells the parent its counts every this many messages
OUTCOMES = ("sent", "failed", "deferred", "unknown", "skipped", "retry")  # what the parent's progress tallies
PR_SET_PDEATHSIG = 1
PARENT_CHECK = 0.25  # seconds between looks at the parent


def _stop_with_parent(stop: threading.Event, parent: int) -> None:
    """A sender process stops (finishing the message in flight) as soon as its parent dies,
    even by SIGKILL: Linux sends it SIGTERM (PR_SET_PDEATHSIG), and a watcher thread checks
    the parent anywhere else, or if the parent died before the request was made."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)

    def watch() -> None:
        while not stop.wait(PARENT_CHECK):
            if os.getppid() != parent:
                stop.set()

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def run_processes(run: Run, workers: int, processes: int) -> None:
    """Split ``workers`` connections over ``processes`` forked sender processes.

    The renderer's inlined frame and cards are made before the fork, so children share
    them; each child opens its own database connections and SMTP connections, tells the
    parent its outcomes as it goes (``run.on_message`` is called in the parent, with each),
    and reports its totals at the end. SIGTERM to the parent reaches the children, which
    finish the messages in flight."""
    context = multiprocessing.get_context("fork")
    results: Any = context.Queue()
    done = context.Array("q", len(OUTCOMES))
    progress, run.on_message = run.on_message, None  # the children count; the parent passes it on
    children = _fork(run, context, workers, processes, results, done)
    try:
        _watch(run, children, done, progress)
        _gather(run, children, results)
    finally:
        run.on_message = progress


def _fork(run: Run, context: Any, workers: int, processes: int, results: Any, done: Any) -> list[Any]:
    run.composer.renderer.prime()
    run.engine.dispose()
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
    return children


def _watch(run: Run, children: list[Any], done: Any, progress: Callable[[str], None] | None) -> None:
    """Until every child has ended: pass a stop on to them, and their progress up."""
    seen = [0] * len(OUTCOMES)

    def pass_on() -> None:
        nonlocal seen
        if progress is None:
            return
        with done.get_lock():
            now = list(done)
        for outcome, was, count in zip(OUTCOMES, seen, now, strict=True):
            for _ in range(count - was):
                progress(outcome)
        seen = now

    checkpoints = WalCheckpoints(run.engine)
    while any(child.is_alive() for child in children):
        checkpoints.tick()
        if run.stop.is_set():
            for child in children:
                if child.pid and child.is_alive():
                    os.kill(child.pid, signal.SIGTERM)
        time.sleep(0.2)
        pass_on()
    pass_on()  # what the children told just before they ended


def _gather(run: Run, children: list[Any], results: Any) -> None:
    """Add up what the children report; one that reported nothing is the run's failure."""
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
    run.engine.dispose(close=False)  # never share the parent's pooled connections
    run.stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: run.stop.set())
    signal.signal(signal.SIGINT, lambda *_: run.stop.set())
    _stop_with_parent(run.stop, parent)
    run.rate = RateLimiter(1.0 / (run.rate.interval * processes) if run.rate.interval else 0)
    run.me = f"{ledger.worker_id()}:p{number}"  # this process's pid: a dead child is known dead at once

    unreported = [0] * len(OUTCOMES)
    lock = threading.Lock()

    def counted(outcome: str) -> None:  # the parent's progress bar, told every few messages
        with lock:
            if outcome in OUTCOMES:
                unreported[OUTCOMES.index(outcome)] += 1
            if sum(unreported) >= PROGRESS_EVERY:
                report_progress()

    def report_progress() -> None:
        with done.get_lock():
            for position, count in enumerate(unreported):
                done[position] += count
        unreported[:] = [0] * len(OUTCOMES)

    run.on_message = counted
    try:
        run_workers(run, threads, checkpoints=False)
    finally:
        with lock:
            report_progress()
        results.put((dict(run.outcomes), list(run.tries), str(run.failure) if run.failure else None))
