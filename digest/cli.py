"""The ``digest`` command: a thin click layer. Each command parses its arguments, calls
one library function and prints; ``DigestError`` becomes one ``Error: ...`` line."""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.table import Table

from digest import __version__
from digest.cli_send import send_command
from digest.cli_subscribers import subscribers_group
from digest.cli_support import State, err, friendly_errors, print_json
from digest.db import describe, migrate

if TYPE_CHECKING:
    from digest.ingest import IngestReport, SourceReport


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
      DIGEST_SECRET_KEY    signs links (32 bytes or more); several comma-separated = rotation

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
    from digest.ingest import ingest

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


@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535), help="Port to listen on.")
@click.pass_obj
@friendly_errors
def serve_command(state: State, host: str, port: int) -> None:
    """Serve the unsubscribe, come-back and confirm links, and /health.

    Put it behind your HTTPS proxy at DIGEST_BASE_URL. GET and HEAD on a link only
    show a page with a button (mail scanners follow links); POST unsubscribes at
    once, including RFC 8058 one-click POSTs from mail providers. Coming back mails
    a confirmation link to the address: only its owner can resubscribe. When the
    database does not answer within 1.5 s, a request gets a 503 (Retry-After), so
    a provider retries its one-click POST; /health says 503 within 2 s.

    \b
    Example:
      DIGEST_BASE_URL=https://digest.example.com digest serve --port 8000
    """
    from digest.web import check_listen, serve

    check_listen(host, port)
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


main.add_command(send_command)
main.add_command(subscribers_group)

if __name__ == "__main__":  # pragma: no cover
    main()
