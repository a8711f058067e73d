"""The ``digest`` command: a thin click layer. Each command parses its arguments, calls
one library function and prints; ``DigestError`` becomes one ``Error: ...`` line."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine

from digest import __version__
from digest.config import Config, Settings, load_config
from digest.db import describe, migrate, open_database
from digest.errors import DigestError
from digest.ingest import IngestReport, SourceReport, ingest

F = TypeVar("F", bound=Callable[..., Any])
err = Console(stderr=True, highlight=False, width=None if sys.stderr.isatty() else 120)


@dataclass
class State:
    """What the commands share: settings from the environment, loaded on first use."""

    sources_path: Path | None = None
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    _config: Config | None = None
    _engine: Engine | None = None

    @property
    def settings(self) -> Settings:
        return Settings.from_env(self.env)

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = load_config(self.env, self.sources_path)
        return self._config

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = open_database(self.settings.database_url)
        return self._engine


def friendly_errors(command: F) -> F:
    """Turn DigestError into ``Error: ...`` on stderr and its exit code."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except DigestError as exc:
            click.echo(f"Error: {exc}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("Error: interrupted", err=True)
            sys.exit(130)

    return wrapper  # type: ignore[return-value]


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="digest")
@click.option(
    "--sources",
    "sources_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="sources.yaml to use (default: $DIGEST_SOURCES, else ./sources.yaml).",
)
@click.pass_context
def main(ctx: click.Context, sources_path: Path | None) -> None:
    """digest: the weekly digest of top product people & jobs.

    One email a week, no spam. digest ingests job feeds and new public profiles,
    ranks the top jobs and people for each reader, renders one email per reader
    and sends it exactly once.

    \b
    Configuration comes from sources.yaml and these variables:
      DIGEST_DATABASE_URL  sqlite:///digest.db (default) or postgresql+psycopg://...
      DIGEST_SOURCES       path to sources.yaml (default ./sources.yaml)
      DIGEST_SMTP_URL      maildir:./outbox (default), smtp://user:pass@host:587?starttls=true
      DIGEST_BASE_URL      public URL of `digest serve` (unsubscribe links)
      DIGEST_SECRET_KEY    signs unsubscribe links; several comma-separated = rotation

    \b
    A typical week:
      digest ingest        fetch every source
      digest send          build this week's issue if needed, then mail every reader
    """
    ctx.obj = State(sources_path=sources_path)


@main.command()
@click.pass_obj
@friendly_errors
def init(state: State) -> None:
    """Create the database, or migrate it to this version's schema.

    Other commands do this on their own when needed; run it to set up a new
    PostgreSQL database ahead of time or to see what would change.
    """
    from digest.db import create_db_engine

    engine = create_db_engine(state.settings.database_url)
    before, after = migrate(engine)
    where = describe(engine)
    if before == after:
        err.print(f"Database {where} is up to date (schema {after}).")
    else:
        err.print(f"Database {where}: schema {before or 'empty'} -> {after}.")


@main.command("ingest")
@click.option("--source", "names", multiple=True, metavar="NAME", help="Only this source (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print the contract's JSON on stdout.")
@click.pass_obj
@friendly_errors
def ingest_command(state: State, names: tuple[str, ...], as_json: bool) -> None:
    """Fetch every source in sources.yaml and store new and changed items.

    Sources are fetched concurrently with conditional GET, so unchanged feeds
    download nothing. A failing source is reported and the others go on; the
    exit code is 0 when every source worked and 4 when any failed.

    \b
    Examples:
      digest ingest
      digest ingest --source wwr-product --json
    """
    config, engine = state.config, state.engine
    with err.status(f"Fetching {len(names) or len(config.sources)} source(s)…"):
        report = ingest(engine, config, names, on_source=_log_source)
    err.print(ingest_table(report))
    err.print(f"{report.new} new, {report.updated} updated, {report.errors} source error(s).")
    if as_json:
        print_json(report.to_json())
    if report.errors:
        sys.exit(4)


def _log_source(result: SourceReport) -> None:
    if result.error:
        err.print(f"[red]{result.name}[/red]: {result.error}", markup=True)


def ingest_table(report: IngestReport) -> Table:
    table = Table(title="Ingest", title_justify="left")
    for column in ("source", "kind", "status", "seen", "new", "updated", "skipped", "error"):
        table.add_column(column, justify="right" if column in ("seen", "new", "updated", "skipped") else "left")
    for s in report.sources:
        table.add_row(s.name, s.kind, s.status, str(s.seen), str(s.new), str(s.updated), str(s.skipped), s.error or "")
    return table


@main.command("build")
@click.option("--week", metavar="YYYY-Www", help="ISO week to build (default: this week in the newsletter's timezone).")
@click.option("--explain", is_flag=True, help="Show every segment's picks with their scores and reasons.")
@click.option("--json", "as_json", is_flag=True, help="Print the contract's JSON on stdout.")
@click.pass_obj
@friendly_errors
def build_command(state: State, week: str | None, explain: bool, as_json: bool) -> None:
    """Rank what is new and freeze this week's issue.

    The issue covers jobs and public profiles that are new since the previous issue was
    built (the 7 days before, for the first). Ranking runs once per segment of readers
    with the same preferences, and the picks are frozen: rebuilding, previewing or
    sending the week later gives the same content. A week with too little that is new
    (newsletter.min_items) is skipped and nobody is mailed.

    \b
    Examples:
      digest build
      digest build --week 2026-W48 --explain
    """
    from digest.issues import build_issue

    report = build_issue(state.engine, state.config, week)
    verb = "was already built" if report.already_built else "built"
    if report.status == "skipped":
        err.print(f"Issue {report.week} skipped: {report.note}. Nobody will be mailed.")
    else:
        err.print(
            f"Issue {report.week} {verb}: {report.jobs} job(s), {report.people} people, {report.segments} segment(s)."
        )
    if explain:
        _explain(state, report.week)
    if as_json:
        print_json(report.to_json())


def _explain(state: State, week: str) -> None:
    from digest.explain import explain_issue

    for line in explain_issue(state.engine, week):
        err.print(line, markup=False, highlight=False)


@main.command("preview")
@click.option("--week", metavar="YYYY-Www", help="Issue to preview (default: this week's, built if needed).")
@click.option("--subscriber", "email", metavar="EMAIL", help="Render exactly what this reader gets.")
@click.option(
    "--format", "fmt", type=click.Choice(["html", "text", "eml"]), default="html", show_default=True,
    help="html or text part, or the full MIME message.",
)  # fmt: skip
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write here, not to stdout.")
@click.pass_obj
@friendly_errors
def preview_command(state: State, week: str | None, email: str | None, fmt: str, output: Path | None) -> None:
    """Write exactly what a reader would get this week.

    Without --subscriber, a reader with no preferences is shown. With --format eml
    the output is the full message (headers, text and HTML parts) as it would be sent.

    \b
    Examples:
      digest preview -o preview.html
      digest preview --subscriber ada@example.com --format eml -o ada.eml
    """
    from digest.preview import render_preview

    data = render_preview(state.engine, state.config, week, email, fmt)
    if output:
        output.write_bytes(data)
        err.print(f"Wrote {len(data):,} bytes to {output}.")
    else:
        click.echo(data, nl=False)


@main.command("send")
@click.option("--week", metavar="YYYY-Www", help="Issue to send (default: this week's, built first if needed).")
@click.option("--dry-run", is_flag=True, help="Render and count what would go out; send and record nothing.")
@click.option("--to", "to", metavar="EMAIL", help="Send one test copy to EMAIL, outside the ledger.")
@click.option("--limit", type=click.IntRange(min=0), help="Send at most N messages in this run.")
@click.option("--workers", type=click.IntRange(1, 64), help="Parallel SMTP connections (default: delivery.workers).")
@click.option("--rate", type=click.FloatRange(min=0), help="Messages per second, all workers together (0: no limit).")
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

    Mail goes to DIGEST_SMTP_URL (default maildir:./outbox).
    Exit codes: 0 all sent; 5 something failed, was deferred or is unknown.

    \b
    Examples:
      digest send
      digest send --dry-run
      digest send --to me@example.com
      DIGEST_SMTP_URL=smtp://relay:587?starttls=true digest send --workers 4 --rate 50
    """
    from digest.send import SendAborted, SendOptions, send

    stop = threading.Event()

    def stop_soon(*_: object) -> None:
        stop.set()
        err.print("Stopping after the messages in flight…")

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, stop_soon)
    with SendProgress() as progress:
        try:
            report = send(
                state.engine, state.config, SendOptions(**options), log=progress.log, on_start=progress.start,
                on_message=progress.advance, stop=stop,
            )  # fmt: skip
        except SendAborted as exc:
            _print_send(exc.report, as_json)
            raise
    _print_send(report, as_json)
    if not report.ok:
        sys.exit(5)


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
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(*exc)  # type: ignore[arg-type]

    def log(self, message: str) -> None:
        self.progress.console.print(message, markup=False, highlight=False)

    def start(self, total: int) -> None:
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
    else:
        err.print(
            f"Issue {report.week}: {report.sent} sent, {report.failed} failed, {report.deferred} deferred, "
            f"{report.skipped} skipped, {report.unknown} unknown; {report.remaining} left for a later run."
        )
    if as_json:
        print_json(report.to_json())


@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535), help="Port to listen on.")
@click.pass_obj
@friendly_errors
def serve_command(state: State, host: str, port: int) -> None:
    """Serve the unsubscribe, resubscribe and confirm links, and /health.

    Put it behind your HTTPS proxy at DIGEST_BASE_URL. GET on a link only shows a
    page with a button (mail scanners follow links); POST unsubscribes at once,
    including RFC 8058 one-click POSTs from mail providers.

    \b
    Example:
      DIGEST_BASE_URL=https://digest.example.com digest serve --port 8000
    """
    from digest.web import serve

    err.print(f"Serving on http://{host}:{port} (links point at {state.settings.base_url})")
    serve(state.engine, state.config, host, port)


@main.command("stats")
@click.option("--week", metavar="YYYY-Www", help="Only this issue.")
@click.option("--json", "as_json", is_flag=True, help="Print the contract's JSON on stdout.")
@click.pass_obj
@friendly_errors
def stats_command(state: State, week: str | None, as_json: bool) -> None:
    """Per issue: sent, failed, deferred, unknown, skipped, unsubscribed and bounced.

    Unsubscribed and bounced count readers whose status changed because of that
    issue. A sparkline shows the weekly series of messages sent and unsubscribes.
    """
    from digest.stats import issue_stats, sparkline

    rows = issue_stats(state.engine, week)
    table = Table(title="Issues", title_justify="left")
    columns = ("week", "status", "sent", "failed", "deferred", "unknown", "skipped", "unsubscribed", "rate", "bounced")
    for column in columns:
        table.add_column(column, justify="left" if column in ("week", "status") else "right")
    for r in rows:
        table.add_row(r.week, r.status, str(r.sent), str(r.failed), str(r.deferred), str(r.unknown), str(r.skipped),
                      str(r.unsubscribed), f"{r.unsubscribe_rate:.2%}", str(r.bounced))  # fmt: skip
    err.print(table)
    if len(rows) > 1:
        err.print(f"sent         {sparkline([r.sent for r in rows])}")
        err.print(f"unsubscribes {sparkline([r.unsubscribe_rate for r in rows])}")
    if as_json:
        print_json({"issues": [r.to_json() for r in rows]})


if __name__ == "__main__":  # pragma: no cover
    main()
