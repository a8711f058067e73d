"""The ``digest`` command: a thin click layer. Each command parses its arguments, calls
one library function and prints; ``DigestError`` becomes one ``Error: ...`` line."""

from __future__ import annotations

from pathlib import Path

import click

from digest import __version__
from digest.cli.bounces import bounces_command
from digest.cli.check import check_command
from digest.cli.pipeline import build_command, ingest_command, preview_command
from digest.cli.send import send_command
from digest.cli.service import schedule_command, serve_command, stats_command
from digest.cli.subscribers import subscribers_group
from digest.cli.support import State, err, friendly_errors
from digest.db import describe, migrate


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
@click.option("--sample", "sample", metavar="DIR", type=click.Path(file_okay=False, path_type=Path),
              help="Write a commented sources.yaml, sample feeds and readers into DIR (made if missing).")  # fmt: skip
@click.pass_obj
@friendly_errors
def init(state: State, sample: Path | None) -> None:
    """Create the database, or migrate it to this version's schema.

    Other commands do this on their own when needed; run it to set up a new
    PostgreSQL database ahead of time or to see what would change.

    With --sample DIR it writes a starting folder instead (nothing is overwritten):
    a commented sources.yaml, fictional feeds and profiles, four sample readers.

    \b
    Examples:
      digest init --sample mydigest && cd mydigest && digest send
      DIGEST_DATABASE_URL=postgresql+psycopg://digest@db/digest digest init
    """
    from digest.db import create_db_engine

    if sample is not None:
        from digest.cli.sample import write_sample

        written = write_sample(sample)
        err.print(f"Wrote {', '.join(str(p) for p in written)}.")
        err.print(f"Next: cd {sample} && digest send   (with the default DIGEST_SMTP_URL, mail goes to "
                  f"{sample}/outbox and nothing leaves this machine)")  # fmt: skip
        return

    engine = create_db_engine(state.settings.database_url)
    before, after = migrate(engine)
    where = describe(engine)
    if before == after:
        err.print(f"Database {where} is up to date (schema {after}).")
    else:
        err.print(f"Database {where}: schema {before or 'empty'} -> {after}.")


for command in (ingest_command, build_command, preview_command, send_command, serve_command, stats_command,
                schedule_command, subscribers_group, check_command, bounces_command):  # fmt: skip
    main.add_command(command)


if __name__ == "__main__":  # pragma: no cover
    main()
