"""The weekly run, what ``digest send`` and ``digest schedule`` do: import the seed readers
into an empty list, ingest when the last ingest is stale, build this week's issue when it
does not exist yet, then deliver it (``digest.deliver.send``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import Engine

from digest.build.issue import existing_issue, issue_of_week
from digest.config import Config
from digest.deliver.send import Hooks, SendOptions, SendReport, preflight, send
from digest.ingest.store import last_ingest
from digest.models import Issue
from digest.subscribers import seed_if_empty
from digest.timeutil import utcnow
from digest.weeks import parse_week, week_of


def run_week(engine: Engine, config: Config, options: SendOptions, hooks: Hooks | None = None) -> SendReport:
    """Seed, ingest when stale, build, deliver: the week's issue reaches every active reader once."""
    hooks = hooks or Hooks()
    preflight(config)  # an unusable key or a local link stops the run before it ingests or builds
    seed_readers(engine, config, hooks.log)
    issue = this_weeks_issue(engine, config, options.week, hooks.log)
    return send(engine, config, issue, options, hooks)


def seed_readers(engine: Engine, config: Config, log: Callable[[str], None]) -> None:
    """An empty list gets delivery.seed_readers (the sample readers of a first run)."""
    seed = config.file.delivery.seed_readers
    if seed:
        added = seed_if_empty(engine, config.path(seed))
        if added:
            log(f"The list was empty: imported {added} sample reader(s) from {seed}.")


def this_weeks_issue(engine: Engine, config: Config, week: str | None, log: Callable[[str], None]) -> Issue:
    """The week's issue; built first when needed, after a fresh ingest when the last one is stale."""
    target = parse_week(week) if week else week_of(utcnow(), config.newsletter.tz)
    existing = existing_issue(engine, target)
    if existing is not None:
        return existing
    last = last_ingest(engine)
    max_age = timedelta(hours=config.file.delivery.ingest_max_age_hours)
    if config.sources and (last is None or utcnow() - last > max_age):
        log("The last ingest is missing or old: ingesting first.")
        from digest.ingest import ingest

        ingested = ingest(engine, config)
        log(f"Ingest: {ingested.new} new, {ingested.errors} source error(s).")
    issue = issue_of_week(engine, config, target)
    log(f"Issue {issue.week}: {issue.status}" + (f" ({issue.note})" if issue.note else ""))
    return issue
