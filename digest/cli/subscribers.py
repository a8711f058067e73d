"""``digest subscribers ...``: manage the list from the command line."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from digest.cli.support import State, err, friendly_errors, print_json
from digest.status import STATUSES


@click.group("subscribers")
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
        from digest.deliver.confirmation import send_confirmation

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

    engine = state.existing_engine
    if engine is None:
        err.print("No database yet: no subscribers to export.")
        return
    if output:
        with open(output, "w", encoding="utf-8", newline="") as handle:
            handle.writelines(export_rows(engine, fmt))
        err.print(f"Wrote {output}.")
    else:
        for chunk in export_rows(engine, fmt):
            click.echo(chunk, nl=False)


@subscribers_group.command("list")
@click.option("--status", type=click.Choice(STATUSES))
@click.option("--json", "as_json", is_flag=True, help="Print the contract's JSON on stdout.")
@click.pass_obj
@friendly_errors
def subscribers_list(state: State, status: str | None, as_json: bool) -> None:
    """List subscribers (every status unless --status narrows it)."""
    from digest.subscribers import iter_subscribers

    engine = state.existing_engine
    found = iter_subscribers(engine, status) if engine is not None else iter(())
    if as_json:
        click.echo('{"subscribers": [', nl=False)
        for n, subscriber in enumerate(found):
            click.echo(
                ("," if n else "") + "\n  " + json.dumps(_subscriber_json(subscriber), ensure_ascii=False), nl=False
            )
        click.echo("\n]}")
        return
    count = 0
    for subscriber in found:
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
    from digest.subscribers import SubscriberError, history

    engine = state.existing_engine
    if engine is None:
        raise SubscriberError(f"no subscriber {email}: there is no database yet")
    found = history(engine, email)
    data = found.to_json()
    if as_json:
        print_json(data)
        return
    for key in ("email", "name", "status", "roles", "locations", "remote", "seniority", "audience", "created_at"):
        value = data[key]
        click.echo(f"{key:>10}: {'; '.join(value) if isinstance(value, list) else value}")
        if key == "roles":
            click.echo(f"{'read as':>10}: {found.read_as.describe() or 'no roles or topics'}")
    click.echo("deliveries:" if found.deliveries else "deliveries: none yet")
    for d in found.deliveries:
        click.echo(f"  {d['week']}  {d['status']:<8} {d['sent_at'] or ''}  {d['reply']}")
    for e in found.events:
        click.echo(f"  event: {e['kind']} via {e['method']} at {e['at']}")


@subscribers_group.command("set")
@click.argument("email")
@click.option("--name", help="The reader's name, as the greeting uses it.")
@click.option("--pref", "prefs", multiple=True, metavar="KEY=VALUE", help="A preference (repeatable).")
@click.pass_obj
@friendly_errors
def subscribers_set(state: State, email: str, name: str | None, prefs: tuple[str, ...]) -> None:
    """Change a reader's name or preferences.

    \b
    Examples:
      digest subscribers set ada@example.com --name "Ada Lovelace"
      digest subscribers set ada@example.com --pref audience=people --pref remote=true
    """
    from digest.subscribers import parse_prefs, update_preferences

    if name is None and not prefs:
        raise click.UsageError("give --name, --pref KEY=VALUE, or both")
    changes = parse_prefs(prefs) | ({"name": name} if name is not None else {})
    subscriber = update_preferences(state.engine, email, changes)
    err.print(f"Updated {subscriber.email}.")


@subscribers_group.command("remove")
@click.argument("email")
@click.option("--forget", is_flag=True, help="Erase their data; keep only a salted hash so they are never mailed.")
@click.pass_obj
@friendly_errors
def subscribers_remove(state: State, email: str, forget: bool) -> None:
    """Unsubscribe a reader (kept on the suppression list), or --forget them entirely."""
    from digest import subscribers

    if forget:
        existed = subscribers.forget(state.engine, email)
        err.print("Forgotten: their data is erased." if existed else "Not on the list; suppressed from now on.")
    else:
        subscriber = subscribers.remove(state.engine, email)
        err.print(f"{subscriber.email} is {subscriber.status}.")
