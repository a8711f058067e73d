"""``digest send``: make sure this week's issue exists, then deliver it to every active reader
exactly once, resuming wherever the ledger stands."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func
from sqlmodel import col, select

from digest import ledger
from digest.compose import Composer, sample_reader
from digest.config import Config, check_public_links
from digest.db import session_scope
from digest.dkim_sign import DkimSigner, dkim_signer
from digest.errors import InputError
from digest.issues import build_issue, find_issue
from digest.mime import sender_parts
from digest.models import Delivery, Issue, Source, Subscriber
from digest.sender import RateLimiter, Refusals, Run, run_processes, run_workers
from digest.subscribers import normalise_email, seed_if_empty
from digest.timeutil import utcnow
from digest.transport import open_transport
from digest.weeks import parse_week, week_of

EXIT_PROBLEMS, EXIT_STOPPED, EXIT_ABORTED = 5, 6, 7


@dataclass
class SendOptions:
    week: str | None = None
    dry_run: bool = False
    to: str | None = None
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
            "skipped": self.skipped, "unknown": self.unknown, "remaining": self.remaining,
            "status": self.status, "note": self.note,
        }  # fmt: skip


def last_ingest(engine: Engine) -> datetime | None:
    with session_scope(engine) as session:
        return session.exec(select(func.max(Source.last_fetched_at))).one()


def ensure_issue(engine: Engine, config: Config, week: str | None, log: Callable[[str], None]) -> Issue:
    """The week's issue; built first when needed, after a fresh ingest when the last one is stale."""
    target = parse_week(week) if week else week_of(utcnow(), config.newsletter.tz)
    with session_scope(engine) as session:
        existing = session.exec(select(Issue).where(Issue.week == target)).first()
    if existing is not None:
        return existing
    last = last_ingest(engine)
    max_age = timedelta(hours=config.file.delivery.ingest_max_age_hours)
    if config.sources and (last is None or utcnow() - last > max_age):
        log("The last ingest is missing or old: ingesting first.")
        from digest.ingest import ingest

        ingested = ingest(engine, config)
        log(f"Ingest: {ingested.new} new, {ingested.errors} source error(s).")
    built = build_issue(engine, config, target)
    log(f"Issue {built.week}: {built.status}" + (f" ({built.note})" if built.note else ""))
    return find_issue(engine, built.week)


def send(
    engine: Engine,
    config: Config,
    options: SendOptions,
    *,
    log: Callable[[str], None] = lambda _: None,
    on_start: Callable[[int], None] | None = None,
    on_message: Callable[[str], None] | None = None,
    stop: threading.Event | None = None,
) -> SendReport:
    check_public_links(config.settings)  # a real send never mails links to localhost or over http
    signer = dkim_signer(config)  # an unusable key stops the run before it ingests or builds
    seed = config.file.delivery.seed_readers
    if seed:
        added = seed_if_empty(engine, config.path(seed))
        if added:
            log(f"The list was empty: imported {added} sample reader(s) from {seed}.")
    issue = ensure_issue(engine, config, options.week, log)
    if issue.status == "skipped":
        return SendReport(issue.week, "skipped", note=f"nothing to send: {issue.note}")
    composer = Composer.open(engine, config, issue)
    if options.to:
        return _send_test_copy(engine, config, composer, options.to, signer)
    if options.dry_run:
        return _dry_run(engine, composer, issue, options.limit)
    assert issue.id is not None
    ledger.enqueue(engine, issue.id)
    recovered = ledger.recover(engine, issue.id)
    if recovered:
        log(f"{recovered} message(s) were in flight when a sender stopped: marked unknown, not resent.")
    if options.resend_unknown:
        log(f"Requeued {ledger.resend_unknown(engine, issue.id)} unknown message(s), as asked.")
    pending = ledger.pending(engine, issue.id)
    if on_start:
        on_start(min(pending, options.limit) if options.limit is not None else pending)
    run = Run(
        engine=engine, config=config, issue=issue, composer=composer,
        transport_factory=lambda: open_transport(config.settings.smtp_url, config.file.delivery.helo), signer=signer,
        limit=options.limit, rate=RateLimiter(options.rate if options.rate is not None else config.file.delivery.rate),
        stop=stop or threading.Event(), on_message=on_message,
        refusals=Refusals(config.file.delivery.refusals_in_a_row),
    )  # fmt: skip
    workers = options.workers or config.file.delivery.workers
    processes = min(options.processes or config.file.delivery.processes, workers)
    if pending and options.limit != 0:
        if processes > 1 and options.limit is None:
            run_processes(run, workers, processes, progress=_progress_of(on_message))
        else:
            run_workers(run, workers)
    report = _report(engine, run, recovered)
    if report.remaining and (run.stop.is_set() or run.limit_reached):
        report.status = "stopped"
    if run.failure is not None:
        report.note = f"stopped: {run.failure}"
        raise SendAborted(str(run.failure), report)
    return report


def _progress_of(on_message: Callable[[str], None] | None) -> Callable[[int], None] | None:
    if on_message is None:
        return None
    report = on_message

    def advance(n: int) -> None:
        for _ in range(n):
            report("done")

    return advance


class SendAborted(InputError):
    """The run stopped early (the mail server cannot be reached or refuses us, the database
    failed); the report says how far it got."""

    exit_code = EXIT_ABORTED

    def __init__(self, message: str, report: SendReport) -> None:
        super().__init__(message)
        self.report = report


def _report(engine: Engine, run: Run, recovered: int) -> SendReport:
    touched = list(run.tries)
    with session_scope(engine) as session:
        still_deferred = 0
        for start in range(0, len(touched), 500):
            chunk = touched[start : start + 500]
            still_deferred += session.exec(
                select(func.count())
                .select_from(Delivery)
                .where(col(Delivery.id).in_(chunk), Delivery.status == "deferred")
            ).one()
    outcomes = run.outcomes
    return SendReport(
        run.issue.week, "sent", sent=outcomes["sent"], failed=outcomes["failed"], deferred=still_deferred,
        skipped=outcomes["skipped"], unknown=outcomes["unknown"] + recovered,
        remaining=ledger.pending(engine, run.issue_id),
    )  # fmt: skip


def _send_test_copy(
    engine: Engine, config: Config, composer: Composer, to: str, signer: DkimSigner | None
) -> SendReport:
    address = normalise_email(to)
    with session_scope(engine) as session:
        reader = session.exec(select(Subscriber).where(Subscriber.email == address)).first()
    if reader is None:
        reader = sample_reader()
        reader.email = address
    transport = open_transport(config.settings.smtp_url, config.file.delivery.helo)
    try:
        data = composer.message_for(reader, utcnow())
        transport.send(sender_parts(config.newsletter.sender)[1], address, signer.sign(data) if signer else data)
    finally:
        transport.close()
    return SendReport(composer.issue.week, "test", sent=1, note=f"test copy to {address}, outside the ledger")


def _dry_run(engine: Engine, composer: Composer, issue: Issue, limit: int | None) -> SendReport:
    """Render every message that would go out now; send nothing and change nothing."""
    done = select(Delivery.subscriber_id).where(
        Delivery.issue_id == issue.id, col(Delivery.status).in_(("sent", "failed", "unknown", "skipped", "sending"))
    )
    rendered, last = 0, 0
    while limit is None or rendered < limit:
        with session_scope(engine) as session:
            batch = session.exec(
                select(Subscriber)
                .where(Subscriber.status == "active", col(Subscriber.id) > last, col(Subscriber.id).not_in(done))
                .order_by(col(Subscriber.id))
                .limit(500)
            ).all()
        if not batch:
            break
        for reader in batch[: None if limit is None else limit - rendered]:
            composer.message_for(reader, utcnow())
            rendered += 1
        last = batch[-1].id or last
    return SendReport(issue.week, "dry-run", remaining=rendered, note=f"would send {rendered} message(s)")
