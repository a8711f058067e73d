"""``digest serve``, ``digest stats`` and ``digest schedule``: running digest as a service."""

from __future__ import annotations

import signal
from typing import Any

import click
from rich.table import Table

from digest.cli.support import State, err, friendly_errors, main_output, print_json


@click.command("serve")
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
    from digest.serve.app import check_listen, serve

    config = state.config
    state.check_mail()
    check_listen(host, port)
    err.print(f"Serving on http://{host}:{port} (links point at {state.settings.base_url})")
    serve(state.engine, config, host, port)


@click.command("stats")
@click.option("--week", metavar="YYYY-Www", help="Only this issue.")
@click.option("--json", "as_json", is_flag=True, help="Print the contract's JSON on stdout.")
@click.pass_obj
@friendly_errors
def stats_command(state: State, week: str | None, as_json: bool) -> None:
    """Per issue: sent, failed, deferred, unknown, skipped, unsubscribed, bounced,
    and the bounces and complaints that came back, with their rates.

    Unsubscribed and bounced count readers whose status changed because of that
    issue. Hard counts readers whose mailbox was refused for good (at send time or
    in a later report: digest bounces, the provider webhooks), soft those put off
    for now, complaints those who reported the issue as spam. A complaint rate
    above 0.3% (the big mailbox providers' limit) is flagged with "!". Thin counts
    the skipped readers who had fewer picks than newsletter.min_picks that week
    (below_min_picks: skip, or nothing at all to send them). A sparkline shows the
    weekly series of messages sent and unsubscribes.
    """
    from digest.deliver.stats import issue_stats, sparkline

    engine = state.existing_engine
    rows = issue_stats(engine, week) if engine is not None else []
    if not rows:
        err.print("No issues yet: nothing has been built or sent." if week is None else f"No issue {week} yet.")
        if as_json:
            print_json({"issues": []})
        return
    table = Table(title="Issues", title_justify="left")
    columns = ("week", "status", "sent", "failed", "deferred", "unknown", "skipped", "thin", "unsubscribed", "rate",
               "bounced")  # fmt: skip
    for column in columns:
        table.add_column(column, justify="left" if column in ("week", "status") else "right")
    returns = Table(title="Bounces and complaints (readers)", title_justify="left")
    for column in ("week", "hard", "rate", "soft", "complaints", "rate "):
        returns.add_column(column, justify="left" if column == "week" else "right")
    for r in rows:
        counts = (r.sent, r.failed, r.deferred, r.unknown, r.skipped, r.skipped_thin, r.unsubscribed)
        table.add_row(r.week, r.status, *map(str, counts), f"{r.unsubscribe_rate:.2%}", str(r.bounced))
        flag = " !" if r.complaints_over_limit else ""
        returns.add_row(r.week, str(r.hard), f"{r.hard_rate:.2%}", str(r.soft), str(r.complaints),
                        f"{r.complaint_rate:.2%}{flag}")  # fmt: skip
    shown = main_output(as_json)
    shown.print(table)
    shown.print(returns)
    if len(rows) > 1:
        shown.print(f"sent         {sparkline([r.sent for r in rows])}")
        shown.print(f"unsubscribes {sparkline([r.unsubscribe_rate for r in rows])}")
    over = [r.week for r in rows if r.complaints_over_limit]
    if over:
        err.print(f"Warning: complaints above 0.3% of messages sent in {', '.join(over)}: mailbox providers "
                  "send mail like this to spam; look at what those issues had in common")  # fmt: skip
    if as_json:
        print_json({"issues": [r.to_json() for r in rows]})


@click.command("schedule")
@click.option("--show", is_flag=True, help="Print the next runs, the last run and whether a scheduler runs now; exit.")
@click.option("--json", "as_json", is_flag=True, help="With --show: print the contract's JSON on stdout.")
@click.pass_obj
@friendly_errors
def schedule_command(state: State, show: bool, as_json: bool) -> None:
    """Run the weekly job (ingest, build, send) on newsletter.schedule.

    The cron line means what crontab(5) says (weekday 0 and 7 are Sunday, names
    allowed), in newsletter.timezone. The schedule is kept in the database, so a
    restart keeps it; a run missed while stopped runs once on start when within
    newsletter.misfire_grace_hours, otherwise it is skipped and logged.

    A failed run (the relay down, say) is logged in one line, written as the last
    run, and tried again after newsletter.retry_minutes, twice as long each time,
    while the misfire grace allows; the scheduler keeps running. It exits non-zero
    only when sources.yaml no longer loads, so systemd's Restart=on-failure fits.
    SIGTERM stops cleanly: messages in flight finish first.

    \b
    Examples:
      digest schedule --show
      digest schedule --show --json
      digest schedule
    """
    from digest.schedule.scheduler import next_runs, run_schedule, stop_all

    config = state.config
    state.check_mail()
    if as_json and not show:
        raise click.UsageError("--json goes with --show")
    if show:
        _show_schedule(state, next_runs(config), as_json)
        return
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop_all())
    runs = next_runs(config)
    err.print(f"Scheduler running; next run {runs[0]:%a %Y-%m-%d %H:%M %Z}. Stop with Ctrl-C or SIGTERM.")
    run_schedule(state.engine, config)


def _show_schedule(state: State, runs: list[Any], as_json: bool) -> None:
    from digest.schedule.runs import last_run, running_scheduler

    config, engine = state.config, state.existing_engine
    last = last_run(engine) if engine is not None else None
    holder = running_scheduler(engine) if engine is not None else None
    shown = main_output(as_json)
    shown.print(f"Schedule {config.newsletter.schedule!r} in {config.newsletter.timezone}; next runs:")
    for run in runs:
        shown.print(f"  {run:%a %Y-%m-%d %H:%M %Z}")
    if last is None:
        shown.print("Last run: none yet.")
    else:
        line = f"Last run: {last.at}, week {last.week or '?'}, {last.status}"
        line += f" (attempt {last.attempt}): {last.error}" if last.error else ""
        line += f"; next try at {last.retry_at}" if last.retry_at else ""
        shown.print(line, markup=False)
    shown.print(f"A scheduler is running now ({holder})." if holder else "No scheduler is running now.", markup=False)
    if as_json:
        print_json({
            "next_runs": [run.isoformat() for run in runs],
            "last_run": last.to_json() if last else None,
            "running": holder is not None,
            "holder": holder,
        })  # fmt: skip
