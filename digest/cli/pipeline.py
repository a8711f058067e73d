"""``digest ingest``, ``digest build`` and ``digest preview``: the stages one at a time."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.table import Table

from digest.cli.support import State, err, friendly_errors, main_output, print_json

if TYPE_CHECKING:
    from digest.ingest import IngestReport, SourceReport


@click.command("ingest")
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
    main_output(as_json).print(ingest_table(report))
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


@click.command("build")
@click.option("--week", metavar="YYYY-Www", help="ISO week to build (default: this week in the newsletter's timezone).")
@click.option("--rebuild", is_flag=True, help="Build the week again from what is new now (if nobody was sent it).")
@click.option("--explain", is_flag=True, help="Show every segment's picks with their scores and reasons.")
@click.option("--json", "as_json", is_flag=True, help="Print the contract's JSON on stdout.")
@click.pass_obj
@friendly_errors
def build_command(state: State, week: str | None, rebuild: bool, explain: bool, as_json: bool) -> None:
    """Rank what is new and freeze this week's issue.

    The issue covers jobs and public profiles that are new since the previous issue was
    built (the 7 days before, for the first). Ranking runs once per segment of readers
    with the same preferences, and the picks are frozen: building, previewing or
    sending the week later gives the same content. A week with too little that is new
    (newsletter.min_items) is skipped and nobody is mailed.

    Only this week or the next can be built (an issue is made of what is new now).
    --rebuild throws a built issue away and builds it afresh, as long as none of its
    messages went out or were tried; one that reached anyone is refused.

    \b
    Examples:
      digest build
      digest build --week 2026-W50 --explain
      digest build --rebuild
    """
    from digest.build.issue import build_issue
    from digest.week import rebuild_issue

    config = state.config
    with BuildProgress() as progress:
        if rebuild:
            report = rebuild_issue(state.engine, config, week, progress=progress.update)
        else:
            report = build_issue(state.engine, config, week, progress=progress.update)
    verb = "was already built" if report.already_built else "rebuilt" if rebuild else "built"
    if report.status == "skipped":
        err.print(f"Issue {report.week} skipped: {report.note}. Nobody will be mailed.")
    else:
        err.print(
            f"Issue {report.week} {verb}: {report.jobs} job(s), {report.people} people, {report.segments} segment(s)."
        )
    if explain:
        _explain(state, report.week, as_json)
    if as_json:
        print_json(report.to_json())


class BuildProgress:
    """A bar on stderr while segments are ranked; it appears only for a build that takes a while."""

    def __init__(self) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.progress = Progress(TextColumn("Ranking segments"), BarColumn(), MofNCompleteColumn(),
                                 TimeRemainingColumn(), console=err, transient=True)  # fmt: skip
        self.task: object = None

    def __enter__(self) -> BuildProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.task is not None:
            self.progress.stop()

    def update(self, done: int, total: int) -> None:
        if self.task is None:
            if total < 50:
                return
            self.progress.start()
            self.task = self.progress.add_task("build", total=total)
        self.progress.update(self.task, completed=done)  # type: ignore[arg-type]


def _explain(state: State, week: str, as_json: bool) -> None:
    """One line per segment and per pick, never wrapped (to stderr with --json)."""
    from digest.build.explain import explain_issue

    for line in explain_issue(state.engine, week):
        click.echo(line, err=as_json)


@click.command("preview")
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
    from digest.render.preview import render_preview

    config = state.config
    data = render_preview(state.engine, config, week, email, fmt)
    if output:
        output.write_bytes(data)
        err.print(f"Wrote {len(data):,} bytes to {output}.")
    else:
        click.echo(data, nl=False)
