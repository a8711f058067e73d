"""Delivering a built issue: to every active reader exactly once, resuming wherever the
ledger stands (or a dry run, or one test copy). ``digest.week`` builds the issue first."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from digest.addresses import find_reader, normalise_email
from digest.build.issue import segment_for
from digest.config import Config, DeliverySettings, check_public_links
from digest.db import session_scope
from digest.deliver import ledger
from digest.deliver.processes import run_processes
from digest.deliver.returnpath import ReturnPath
from digest.deliver.transport import DeliveryProblem, Prepared, open_transport
from digest.deliver.workers import LOCKED_WAIT, RateLimiter, Refusals, Run, run_workers
from digest.errors import DatabaseError, InputError, SendAborted, SubscriberError
from digest.models import Issue
from digest.render.compose import Composer, sample_reader
from digest.render.dkim import DkimSigner, dkim_signer
from digest.timeutil import utcnow

EXIT_PROBLEMS, EXIT_STOPPED, EXIT_ABORTED = 5, 6, SendAborted.exit_code


@dataclass
class SendOptions:
    week: str | None = None
    dry_run: bool = False
    to: str | None = None
    as_reader: str | None = None  # with ``to``: whose version the test copy is
    limit: int | None = None
    workers: int | None = None
    rate: float | None = None
    resend_unknown: bool = False
    processes: int | None = None


@dataclass
class SendReport:
    week: str
    status: str  # sent | stopped (rows left: SIGTERM, --limit) | skipped | dry-run | test
    sent: int = 0
    failed: int = 0
    deferred: int = 0
    skipped: int = 0
    unknown: int = 0
    remaining: int = 0
    note: str = ""
    skipped_thin: int = 0  # of the skipped: readers with too few picks this week (newsletter.min_picks)
    earlier: int = 0  # readers this issue had reached before this run

    @property
    def ok(self) -> bool:
        return not (self.failed or self.deferred or self.unknown)

    @property
    def exit_code(self) -> int:
        """0 all went out; 5 some failed, were deferred or are unknown; 6 stopped with rows left.
        (7, a run the mail server or the database stopped, is SendAborted's.)"""
        if self.status == "stopped":
            return EXIT_STOPPED
        return 0 if self.ok else EXIT_PROBLEMS

    def to_json(self) -> dict[str, Any]:
        return {
            "week": self.week, "sent": self.sent, "failed": self.failed, "deferred": self.deferred,
            "skipped": self.skipped, "skipped_thin": self.skipped_thin, "unknown": self.unknown,
            "remaining": self.remaining, "status": self.status, "note": self.note,
        }  # fmt: skip


def preflight(config: Config) -> DkimSigner | None:
    """What must hold before anything is sent (or ingested and built for sending): public
    links for a real relay, a usable DKIM key. Returns the signer."""
    check_public_links(config.settings)  # a real send never mails links to localhost or over http
    return dkim_signer(config)


@dataclass
class Hooks:
    """How a caller follows a send and stops it: lines to log, the number of messages about
    to go (``on_start``), each outcome as it is recorded (``on_message``), a stop event."""

    log: Callable[[str], None] = lambda _: None
    on_start: Callable[[int], None] | None = None
    on_message: Callable[[str], None] | None = None
    stop: threading.Event | None = None


def send(engine: Engine, config: Config, issue: Issue, options: SendOptions, hooks: Hooks | None = None) -> SendReport:
    """Deliver a built ``issue``: to every active reader exactly once, resuming wherever the
    ledger stands; or a dry run; or one test copy (``options.to``)."""
    hooks = hooks or Hooks()
    signer = preflight(config)
    if issue.status == "skipped":
        return SendReport(issue.week, "skipped", note=f"nothing to send: {issue.note}")
    if options.to and options.dry_run:
        raise InputError("--dry-run sends nothing, --to sends a test copy: give one of them")
    composer = Composer.open(engine, config, issue, store=not options.dry_run)
    if options.to:
        return _send_test_copy(engine, config, composer, options, signer)
    if options.dry_run:
        return _dry_run(engine, composer, issue, options.limit)
    recovered = _prepare(engine, config, issue, options.resend_unknown, hooks.log)
    before = ledger.counts(engine, issue.id or 0)
    if not sum(before.values()):
        hooks.log("Warning: the list has no active readers; nobody will be mailed (digest subscribers add or import).")
    pending = ledger.pending(engine, issue.id or 0)
    ledger.refresh_statistics(engine, pending)
    if hooks.on_start:
        hooks.on_start(min(pending, options.limit) if options.limit is not None else pending)
    run = _run(engine, config, issue, composer, signer, options, hooks)
    if pending and options.limit != 0:
        _start_workers(run, options, config.file.delivery)
    report = _finish(engine, run, recovered)
    report.earlier = before[ledger.DeliveryStatus.SENT]
    return report


def _prepare(engine: Engine, config: Config, issue: Issue, resend_unknown: bool, log: Callable[[str], None]) -> int:
    """Rows for new readers, each in a segment the issue has frozen (so a reader who changes
    their preferences during the send still gets this issue as queued); what dead senders left
    taken over. Returns how many became unknown."""
    assert issue.id is not None
    ledger.enqueue(engine, issue.id)
    for prefs in ledger.unfrozen(engine, issue.id):
        segment_for(engine, config, issue, prefs)
    recovered = ledger.recover(engine, issue.id)
    if recovered:
        log(f"{recovered} message(s) were in flight when a sender stopped: marked unknown, not resent.")
    paused = ledger.pausing(engine, issue.id)
    if paused:
        log(f"{paused} reader(s) pause this week (they chose to on their page): not mailed this issue.")
    if resend_unknown:
        log(f"Requeued {ledger.resend_unknown(engine, issue.id)} unknown message(s), as asked.")
    return recovered


def _run(
    engine: Engine, config: Config, issue: Issue, composer: Composer, signer: DkimSigner | None,
    options: SendOptions, hooks: Hooks,
) -> Run:  # fmt: skip
    delivery = config.file.delivery
    return Run(
        engine=engine, delivery=delivery, return_path=ReturnPath.of(config, composer.signer),
        issue=issue, composer=composer,
        transport_factory=lambda: open_transport(config.settings.smtp_url, delivery.helo), signer=signer,
        limit=options.limit, rate=RateLimiter(options.rate if options.rate is not None else delivery.rate),
        stop=hooks.stop or threading.Event(), on_message=hooks.on_message,
        refusals=Refusals(delivery.refusals_in_a_row),
    )  # fmt: skip


def _start_workers(run: Run, options: SendOptions, delivery: DeliverySettings) -> None:
    workers = options.workers or delivery.workers
    processes = min(options.processes or delivery.processes or default_processes(workers), workers)
    if processes > 1 and options.limit is None:
        run_processes(run, workers, processes)
    else:
        run_workers(run, workers)


def default_processes(workers: int) -> int:
    """One sender process per core this process may run on, at most one per connection: in
    one process, connections take turns on the GIL while they render and write; with more
    processes than cores they only take turns on the cores, and each costs memory (2 cores,
    4 connections, here: 2 processes sent as fast as 4, in 33 MB less; 1 sent at about two
    thirds of their rate)."""
    if workers <= 1:
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return min(workers, cores)


def _finish(engine: Engine, run: Run, recovered: int) -> SendReport:
    left = 0  # rows still queued with every worker done: another sender's claim held them (workers.LOCKED_WAIT)
    try:
        report = _report(engine, run, recovered)
        if report.remaining:
            left = ledger.counts(engine, run.issue_id)[ledger.DeliveryStatus.QUEUED]
    except DatabaseError as exc:  # the database went with the run (a host cut off): what this run knows
        outcomes = run.outcomes
        report = SendReport(run.issue.week, "stopped", sent=outcomes["sent"], failed=outcomes["failed"],
                            skipped=outcomes["skipped"], unknown=outcomes["unknown"] + recovered,
                            skipped_thin=outcomes["skipped_thin"])  # fmt: skip
        run.failure = run.failure or exc
    if report.remaining and (run.stop.is_set() or run.limit_reached):
        report.status = "stopped"
    elif run.failure is None and left:
        report.status = "stopped"
        report.note = (f"{left} readers left queued: another sender's claim of them was not committed for "
                       f"{LOCKED_WAIT:.0f} s (a sender stopped mid-claim, or a pooler keeping its connection); "
                       "the next run sends them")  # fmt: skip
    if run.failure is not None:
        report.note = f"stopped: {run.failure}"
        raise SendAborted(str(run.failure), report)
    return report


def _report(engine: Engine, run: Run, recovered: int) -> SendReport:
    outcomes = run.outcomes
    return SendReport(
        run.issue.week, "sent", sent=outcomes["sent"], failed=outcomes["failed"],
        deferred=ledger.still_deferred(engine, list(run.tries)), skipped=outcomes["skipped"],
        unknown=outcomes["unknown"] + recovered, remaining=ledger.pending(engine, run.issue_id),
        skipped_thin=outcomes["skipped_thin"],
    )  # fmt: skip


def _send_test_copy(
    engine: Engine, config: Config, composer: Composer, options: SendOptions, signer: DkimSigner | None
) -> SendReport:
    """One copy to ``options.to`` of the version ``options.as_reader`` gets (default: the
    reader at ``to``, else a reader with no preferences), outside the ledger. Its subject says
    [TEST] and its links name nobody: clicking them in the test copy does nothing, and the
    page they open says so."""
    assert options.to is not None
    to = normalise_email(options.to)
    whose = normalise_email(options.as_reader) if options.as_reader else to
    with session_scope(engine) as session:
        reader = find_reader(session, whose)
    if reader is None and options.as_reader:
        raise SubscriberError(f"--as {options.as_reader}: no such reader (digest subscribers list shows them)")
    copy = sample_reader(reader.preferences if reader is not None else None)
    copy.email, copy.name = to, reader.name if reader is not None else ""
    skipped = composer.skip_reason(copy)
    if skipped:  # what they get this week is nothing: a copy of it would mislead
        raise InputError(f"{whose} gets no email this week ({skipped.removeprefix('thin: ')}): there is no "
                         f"version of theirs to copy")  # fmt: skip
    data = composer.message_for(copy, utcnow(), test=True)
    week = composer.issue.week
    with open_transport(config.settings.smtp_url, config.file.delivery.helo) as transport:
        try:
            transport.send(ReturnPath.of(config, composer.signer).plain, to,
                           Prepared(signer.sign(data) if signer else data))  # fmt: skip
        except DeliveryProblem as problem:
            report = SendReport(week, "test", failed=1, note=f"the test copy to {to} was refused")
            raise SendAborted(f"{to}: the mail server refused the test copy: {problem.reply}", report) from None
    version = whose + "'s version" if reader is not None else "the version for no preferences"
    note = f"test copy of {version} to {to}"
    return SendReport(week, "test", sent=1, note=f"{note}, outside the ledger")


def _dry_run(engine: Engine, composer: Composer, issue: Issue, limit: int | None) -> SendReport:
    """Render every message that would go out now; send nothing and change nothing."""
    rendered, thin, last = 0, 0, 0
    while limit is None or rendered + thin < limit:
        batch = ledger.unsent_readers(engine, issue.id or 0, last, 500)
        if not batch:
            break
        for reader in batch[: None if limit is None else limit - rendered - thin]:
            if composer.skip_reason(reader):
                thin += 1
                continue
            composer.message_for(reader, utcnow())
            rendered += 1
        last = batch[-1].id or last
    note = f"would send {rendered} message(s)"
    if thin:
        note += f" and skip {thin} reader(s) with too few picks this week (newsletter.min_picks)"
    return SendReport(issue.week, "dry-run", remaining=rendered, skipped=thin, skipped_thin=thin, note=note)
