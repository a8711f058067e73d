"""``digest send``: the command, its progress bar and its summary."""

from __future__ import annotations

import signal
import sys
import threading
from typing import Any

import click

from digest.cli.support import State, err, friendly_errors, print_json


@click.command("send")
@click.option("--week", metavar="YYYY-Www", help="Issue to send (default: this week's, built first if needed).")
@click.option("--dry-run", is_flag=True, help="Render and count what would go out; send and record nothing.")
@click.option("--to", "to", metavar="EMAIL", help="One test copy to EMAIL, outside the ledger ([TEST], links inert).")
@click.option("--as", "as_reader", metavar="READER", help="With --to: the test copy is this reader's version.")
@click.option("--limit", type=click.IntRange(min=0), help="Send at most N messages in this run.")
@click.option("--workers", type=click.IntRange(1, 64), help="Parallel SMTP connections (default: delivery.workers).")
@click.option("--rate", type=click.FloatRange(min=0), help="Messages per second, all workers together (0: no limit).")
@click.option(
    "--processes",
    type=click.IntRange(1, 32),
    help="Sender processes sharing the workers (default: one per core, at most one per worker).",
)
@click.option("--resend-unknown", is_flag=True, help="Requeue messages whose fate is unknown (may send twice).")
@click.option("--json", "as_json", is_flag=True, help="Print the contract's JSON on stdout.")
@click.pass_obj
@friendly_errors
def send_command(state: State, /, as_json: bool, **options: Any) -> None:
    """Send this week's issue to every active reader, exactly once.

    Builds the issue first when needed (and ingests first when the last ingest is
    older than delivery.ingest_max_age_hours). Every message is recorded in the
    ledger as it is accepted, so an interrupted run resumes where it stopped and
    nobody is mailed twice. A message whose fate is unknown after a crash is
    reported, never resent unless you pass --resend-unknown.

    Mail goes to DIGEST_SMTP_URL (default maildir:./outbox). A refusal about the
    reader's mailbox (5.1.x, 5.2.1) bounces that reader; any other refusal (login,
    policy, size, content) fails the message only, and delivery.refusals_in_a_row
    of one kind in a row stop the run, leaving those messages queued.

    \b
    Exit codes:
      0  every message went out
      5  the run finished, but some messages failed, were deferred or are unknown
      6  stopped with messages left (SIGTERM, Ctrl-C, --limit, or readers another
         sender's claim held for over 3 minutes): run it again to go on
      7  the mail server or the database stopped the run (an Error: line says why);
         the messages not sent are still queued

    \b
    Examples:
      digest send
      digest send --dry-run
      digest send --to me@example.com
      digest send --to me@example.com --as ada@example.com
      DIGEST_SMTP_URL=smtp://relay:587?starttls=true digest send --workers 4 --rate 50
    """
    from digest.db import describe_url
    from digest.deliver.send import Hooks, SendOptions
    from digest.errors import SendAborted
    from digest.week import run_week

    if options["dry_run"] and options["to"]:
        raise click.UsageError("--dry-run sends nothing and --to sends a test copy: give one of them")
    if options["as_reader"] and not options["to"]:
        raise click.UsageError("--as READER goes with --to EMAIL (the address the test copy goes to)")
    config = state.config
    state.check_mail()
    stop = threading.Event()

    def stop_soon(*_: object) -> None:
        stop.set()
        err.print("Stopping after the messages in flight…")

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, stop_soon)
    engine = state.existing_engine if options["dry_run"] else state.engine
    if engine is None:
        where = describe_url(state.settings.database_url)
        err.print(f"Nothing is stored yet ({where}): a send would create the database, ingest every source, "
                  "build this week's issue and mail the list. Nothing was done.")  # fmt: skip
        return
    with SendProgress() as progress:
        try:
            hooks = Hooks(log=progress.log, on_start=progress.start, on_message=progress.advance, stop=stop)
            report = run_week(engine, config, SendOptions(**options), hooks)
        except SendAborted as exc:
            _print_send(exc.report, as_json)
            raise
    _print_send(report, as_json)
    if report.exit_code:
        sys.exit(report.exit_code)


class SendProgress:
    """A rich progress bar on stderr, counting outcomes as messages finish."""

    def __init__(self) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.progress = Progress(
            TextColumn("Sending"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[tally]}"),
            TimeRemainingColumn(), console=err, transient=True,
        )  # fmt: skip
        self.task: Any = None
        self.tally: dict[str, int] = {}

    def __enter__(self) -> SendProgress:
        return self  # the bar appears when sending starts: an early Error: line stands alone

    def __exit__(self, *exc: object) -> None:
        if self.task is not None:
            self.progress.__exit__(*exc)  # type: ignore[arg-type]

    def log(self, message: str) -> None:
        self.progress.console.print(message, markup=False, highlight=False)

    def start(self, total: int) -> None:
        self.progress.__enter__()
        self.task = self.progress.add_task("send", total=total, tally="")

    def advance(self, outcome: str) -> None:
        self.tally[outcome] = self.tally.get(outcome, 0) + 1
        tally = " ".join(f"{k} {v}" for k, v in sorted(self.tally.items()))
        self.progress.update(self.task, advance=0 if outcome == "retry" else 1, tally=tally)


def _print_send(report: Any, as_json: bool) -> None:
    if report.status == "skipped":
        err.print(f"Issue {report.week} was skipped: {report.note}. Nobody was mailed.")
    elif report.status in ("test", "dry-run"):
        err.print(f"Issue {report.week}: {report.note}.")
    elif report.earlier and not (report.sent or report.failed or report.unknown or report.remaining):
        err.print(f"Issue {report.week} already went to {report.earlier} reader(s); nothing left to send.")
    else:
        thin = f" ({report.skipped_thin} with too few picks this week)" if report.skipped_thin else ""
        err.print(
            f"Issue {report.week}: {report.sent} sent, {report.failed} failed, {report.deferred} deferred, "
            f"{report.skipped} skipped{thin}, {report.unknown} unknown; {report.remaining} left for a later run."
        )
    if as_json:
        print_json(report.to_json())
