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
@click.option("--processes", type=click.IntRange(1, 32), help="Sender processes sharing the workers (default: 1).")
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


@main.group("subscribers")
def subscribers_group() -> None:
    """Manage the list: add, import, export, list, show, set, remove.

    Addresses are validated (syntax, no DNS) and normalised: two addresses that differ
    only in letter case are one person. Preferences (--pref KEY=VALUE, or CSV/JSONL
    columns): roles and locations (';'-separated), remote (true/false), seniority,
    audience (jobs, people or both).
    """


def _subscriber_json(subscriber: Any) -> dict[str, Any]:
    from digest.subscribers import as_record

    return as_record(subscriber)


@subscribers_group.command("add")
@click.argument("email")
@click.option("--name", default="", help="The reader's name (used in the greeting).")
@click.option("--pref", "prefs", multiple=True, metavar="KEY=VALUE", help="A preference (repeatable).")
@click.option("--confirm", is_flag=True, help="Double opt-in: mail a confirmation link; pending until clicked.")
@click.option("--fresh-consent", is_flag=True, help="Re-add an unsubscribed or forgotten address: they asked again.")
@click.option("--json", "as_json", is_flag=True, help="Print the subscriber as JSON on stdout.")
@click.pass_obj
@friendly_errors
def subscribers_add(
    state: State, email: str, name: str, prefs: tuple[str, ...], confirm: bool, fresh_consent: bool, as_json: bool
) -> None:
    """Add a reader (or update an existing one's name and preferences).

    \b
    Examples:
      digest subscribers add ada@example.com --name "Ada" --pref roles="technical product manager;payments"
      digest subscribers add new@example.com --confirm
    """
    from digest.subscribers import add, parse_prefs

    subscriber, created = add(
        state.engine, email, name, parse_prefs(prefs), pending=confirm, fresh_consent=fresh_consent
    )
    if confirm and subscriber.status == "pending":
        from digest.confirmation import send_confirmation

        send_confirmation(state.engine, state.config, subscriber)
        err.print(f"Sent a confirmation link to {subscriber.email}; they get the digest once they click it.")
    err.print(f"{'Added' if created else 'Updated'} {subscriber.email} ({subscriber.status}).")
    if as_json:
        print_json({**_subscriber_json(subscriber), "created": created})


@subscribers_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--fresh-consent", is_flag=True, help="Re-activate unsubscribed addresses in the file (they asked again)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the contract's JSON on stdout.")
@click.pass_obj
@friendly_errors
def subscribers_import(state: State, file: Path, fresh_consent: bool, as_json: bool) -> None:
    """Import readers from a CSV (header: email,name,roles,...) or JSONL file.

    Good lines go in while every bad line is reported with its line number (the
    file's physical line; the header is line 1). Re-importing the same file changes
    nothing; unsubscribed addresses stay unsubscribed unless --fresh-consent.
    Exit code 4 when some lines were rejected.
    """
    from rich.progress import BarColumn, Progress, TextColumn

    from digest.subscribers import import_file

    size = max(file.stat().st_size, 1)
    with Progress(TextColumn("Importing"), BarColumn(), TextColumn("{task.fields[lines]:,} lines"), console=err,
                  transient=True) as progress:  # fmt: skip
        task = progress.add_task("import", total=size, lines=0)
        handle_size = _LineProgress(file, size)
        report = import_file(
            state.engine, file, fresh_consent=fresh_consent,
            on_batch=lambda line: progress.update(task, completed=handle_size.at(line), lines=line),
        )  # fmt: skip
    for rejected in report.rejected[:20]:
        err.print(f"line {rejected['line']}: {rejected['reason']}", markup=False, highlight=False)
    if len(report.rejected) > 20:
        err.print(f"... and {len(report.rejected) - 20} more rejected line(s) (see --json)")
    err.print(
        f"{report.added} added, {report.updated} updated, {report.unchanged} unchanged, {report.duplicates} duplicate "
        f"line(s) merged, {report.kept_suppressed} kept unsubscribed, {len(report.rejected)} rejected."
    )
    if as_json:
        print_json(report.to_json())
    if report.rejected:
        sys.exit(4)


class _LineProgress:
    """Roughly where line N is in the file, for the progress bar (no second pass over the file)."""

    def __init__(self, file: Path, size: int) -> None:
        self.size = size
        with open(file, "rb") as handle:
            sample = handle.read(65536)
        self.per_line = max(1.0, len(sample) / max(1, sample.count(b"\n")))

    def at(self, line: int) -> float:
        return min(self.size, line * self.per_line)


@subscribers_group.command("export")
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]), default="csv", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write here, not to stdout.")
@click.pass_obj
@friendly_errors
def subscribers_export(state: State, fmt: str, output: Path | None) -> None:
    """Export every subscriber with their status; importing the output gives the same list back."""
    from digest.subscribers import export_rows

    if output:
        with open(output, "w", encoding="utf-8", newline="") as handle:
            handle.writelines(export_rows(state.engine, fmt))
        err.print(f"Wrote {output}.")
    else:
        for chunk in export_rows(state.engine, fmt):
            click.echo(chunk, nl=False)


@subscribers_group.command("list")
@click.option("--status", type=click.Choice(["pending", "active", "unsubscribed", "bounced", "complained"]))
@click.option("--json", "as_json", is_flag=True, help="Print the contract's JSON on stdout.")
@click.pass_obj
@friendly_errors
def subscribers_list(state: State, status: str | None, as_json: bool) -> None:
    """List subscribers (every status unless --status narrows it)."""
    from digest.subscribers import iter_subscribers

    if as_json:
        click.echo('{"subscribers": [', nl=False)
        for n, subscriber in enumerate(iter_subscribers(state.engine, status)):
            click.echo(
                ("," if n else "") + "\n  " + json.dumps(_subscriber_json(subscriber), ensure_ascii=False), nl=False
            )
        click.echo("\n]}")
        return
    count = 0
    for subscriber in iter_subscribers(state.engine, status):
        click.echo(f"{subscriber.email}\t{subscriber.status}\t{subscriber.name}")
        count += 1
    err.print(f"{count} subscriber(s).")


@subscribers_group.command("show")
@click.argument("email")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON on stdout.")
@click.pass_obj
@friendly_errors
def subscribers_show(state: State, email: str, as_json: bool) -> None:
    """One reader: preferences, and every issue they were sent with what happened."""
    from digest.subscribers import history

    found = history(state.engine, email)
    data = found.to_json()
    if as_json:
        print_json(data)
        return
    for key in ("email", "name", "status", "roles", "locations", "remote", "seniority", "audience", "created_at"):
        value = data[key]
        click.echo(f"{key:>10}: {'; '.join(value) if isinstance(value, list) else value}")
    click.echo("deliveries:" if found.deliveries else "deliveries: none yet")
    for d in found.deliveries:
        click.echo(f"  {d['week']}  {d['status']:<8} {d['sent_at'] or ''}  {d['reply']}")
    for e in found.events:
        click.echo(f"  event: {e['kind']} via {e['method']} at {e['at']}")


@subscribers_group.command("set")
@click.argument("email")
@click.option("--pref", "prefs", multiple=True, metavar="KEY=VALUE", required=True, help="A preference (repeatable).")
@click.pass_obj
@friendly_errors
def subscribers_set(state: State, email: str, prefs: tuple[str, ...]) -> None:
    """Change a reader's name or preferences.

    \b
    Example:
      digest subscribers set ada@example.com --pref audience=people --pref remote=true
    """
    from digest.subscribers import parse_prefs, update_preferences

    subscriber = update_preferences(state.engine, email, parse_prefs(prefs))
    err.print(f"Updated {subscriber.email}.")


@subscribers_group.command("remove")
@click.argument("email")
@click.option("--forget", is_flag=True, help="Erase their data; keep only a salted hash so they are never mailed.")
@click.pass_obj
@friendly_errors
def subscribers_remove(state: State, email: str, forget: bool) -> None:
    """Unsubscribe a reader (kept on the suppression list), or --forget them entirely."""
    from digest.subscribers import forget as forget_address
    from digest.subscribers import remove

    if forget:
        existed = forget_address(state.engine, email)
        err.print("Forgotten: their data is erased." if existed else "Not on the list; suppressed from now on.")
    else:
        subscriber = remove(state.engine, email)
        err.print(f"{subscriber.email} is {subscriber.status}.")


@main.command("schedule")
@click.option("--show", is_flag=True, help="Print the next run times and exit.")
@click.pass_obj
@friendly_errors
def schedule_command(state: State, show: bool) -> None:
    """Run the weekly job (ingest, build, send) on newsletter.schedule.

    The cron line means what crontab(5) says (weekday 0 and 7 are Sunday, names
    allowed), in newsletter.timezone. The schedule is kept in the database, so a
    restart keeps it; a run missed while stopped runs once on start when within
    newsletter.misfire_grace_hours, otherwise it is skipped and logged. SIGTERM
    stops cleanly: messages in flight finish first.

    \b
    Examples:
      digest schedule --show
      digest schedule
    """
    from digest.schedule import STOP, next_runs, run_schedule

    config = state.config
    runs = next_runs(config)
    if show:
        click.echo(f"Schedule {config.newsletter.schedule!r} in {config.newsletter.timezone}; next runs:")
        for run in runs:
            click.echo(f"  {run:%a %Y-%m-%d %H:%M %Z}")
        return
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: STOP.set())
    err.print(f"Scheduler running; next run {runs[0]:%a %Y-%m-%d %H:%M %Z}. Stop with Ctrl-C or SIGTERM.")
    run_schedule(state.engine, config)


if __name__ == "__main__":  # pragma: no cover
    main()
