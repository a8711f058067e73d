"""The weekly run, what ``digest send`` and ``digest schedule`` do: import the seed readers
into an empty list, ingest when the last ingest is stale, build this week's issue when it
does not exist yet, then deliver it (``digest.deliver.send``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import Engine

from digest import subscribers
from digest.build.issue import (
    BuildReport,
    Progress,
    build_issue,
    check_buildable,
    existing_issue,
    issue_of_week,
    would_build,
)
from digest.config import Config
from digest.deliver import ledger
from digest.deliver.send import Hooks, SendOptions, SendReport, preflight, send
from digest.errors import InputError
from digest.ingest.store import last_ingest
from digest.models import Issue
from digest.timeutil import utcnow
from digest.weeks import parse_week, week_of


def run_week(engine: Engine, config: Config, options: SendOptions, hooks: Hooks | None = None) -> SendReport:
    """Seed, ingest when stale, build, deliver: the week's issue reaches every active reader once."""
    hooks = hooks or Hooks()
    preflight(config)  # an unusable key or a local link stops the run before it ingests or builds
    target = parse_week(options.week) if options.week else week_of(utcnow(), config.newsletter.tz)
    if existing_issue(engine, target) is None:  # a week that cannot be built stops before the seed and ingest
        check_buildable(target, utcnow(), config.newsletter.tz)
    if options.dry_run:
        return dry_run(engine, config, options, hooks)
    seed_readers(engine, config, hooks.log)
    issue = this_weeks_issue(engine, config, options.week, hooks.log)
    return send(engine, config, issue, options, hooks)


def rebuild_issue(engine: Engine, config: Config, week: str | None = None, progress: Progress = None) -> BuildReport:
    """Build ``week``'s issue (default: this week's) again from what is new now, when nobody
    has been sent it; an issue that went to anyone is refused (its readers keep what they got)."""
    now = utcnow()
    target = parse_week(week) if week else week_of(now, config.newsletter.tz)
    check_buildable(target, now, config.newsletter.tz)
    existing = existing_issue(engine, target)
    if existing is not None and existing.id is not None:
        tried = ledger.discard_issue(engine, existing.id)
        if tried:
            raise InputError(f"issue {target} cannot be rebuilt: {tried} of its messages went out or were tried, "
                             "and its readers keep what they got")  # fmt: skip
    return build_issue(engine, config, target, now, progress)


def dry_run(engine: Engine, config: Config, options: SendOptions, hooks: Hooks) -> SendReport:
    """What a send would do now, recording nothing: no seed readers imported, no ingest, no
    issue frozen. A built issue's messages are rendered (and counted); for a week not built
    yet, what the build would freeze and how many readers it would go to."""
    target = parse_week(options.week) if options.week else week_of(utcnow(), config.newsletter.tz)
    existing = existing_issue(engine, target)
    if existing is not None:
        return send(engine, config, existing, options, hooks)
    steps, seed = [], config.file.delivery.seed_readers
    readers = subscribers.count(engine, "active")
    seeding = bool(seed) and not subscribers.count(engine)
    if seeding:
        steps.append(f"import the sample readers in {seed}")
    would = would_build(engine, config, target)
    stored = f"{would.jobs} new job(s) and {would.people} new people are stored now"
    ingest_first = bool(config.sources) and _ingest_is_stale(engine, config)
    if ingest_first:
        steps.append("ingest every source (the last ingest is missing or old)")
        steps.append(f"build issue {target} from what that brings ({stored})")
    elif would.status == "skipped":
        steps.append(f"skip the week ({would.note}): nobody would be mailed")
        readers = 0
    else:
        steps.append(f"build issue {target} ({stored}; {would.segments} segment(s))")
    if ingest_first or would.status != "skipped":
        steps.append("mail the sample readers" if seeding else f"send {readers} message(s)" if readers
                     else "send nothing: the list has no active readers")  # fmt: skip
    note = "not built yet; a send would " + ", then ".join(steps)
    return SendReport(target, "dry-run", remaining=readers, note=note)


def _every_tenth(log: Callable[[str], None], what: str) -> Progress:
    """Build progress as log lines: about ten, at each tenth of the segments (a bar is the CLI's)."""

    def report(done: int, total: int) -> None:
        if total >= 50 and (done * 10 // total) != ((done - 1) * 10 // total):
            log(f"{what}: {done}/{total} segments ranked")

    return report


def _ingest_is_stale(engine: Engine, config: Config) -> bool:
    last = last_ingest(engine)
    return last is None or utcnow() - last > timedelta(hours=config.file.delivery.ingest_max_age_hours)


def seed_readers(engine: Engine, config: Config, log: Callable[[str], None]) -> None:
    """An empty list gets delivery.seed_readers (the sample readers of a first run)."""
    seed = config.file.delivery.seed_readers
    if seed:
        added = subscribers.seed_if_empty(engine, config.path(seed))
        if added:
            log(f"The list was empty: imported {added} sample reader(s) from {seed}.")


def this_weeks_issue(engine: Engine, config: Config, week: str | None, log: Callable[[str], None]) -> Issue:
    """The week's issue; built first when needed, after a fresh ingest when the last one is stale."""
    target = parse_week(week) if week else week_of(utcnow(), config.newsletter.tz)
    existing = existing_issue(engine, target)
    if existing is not None:
        return existing
    if config.sources and _ingest_is_stale(engine, config):
        log("The last ingest is missing or old: ingesting first.")
        from digest.ingest import ingest

        ingested = ingest(engine, config, on_source=lambda s: log(f"  {s.name}: " + (s.error or f"{s.new} new")))
        log(f"Ingest: {ingested.new} new, {ingested.errors} source error(s).")
    issue = issue_of_week(engine, config, target, progress=_every_tenth(log, f"Building {target}"))
    log(f"Issue {issue.week}: {issue.status}" + (f" ({issue.note})" if issue.note else ""))
    return issue
