"""``digest preview``: exactly what one reader would get, as HTML, text or the whole message."""

from __future__ import annotations

from sqlalchemy import Engine
from sqlmodel import select

from digest.compose import Composer, sample_reader
from digest.config import Config
from digest.db import session_scope
from digest.errors import InputError
from digest.issues import build_issue, find_issue
from digest.models import Issue, Subscriber
from digest.timeutil import utcnow


def issue_to_preview(engine: Engine, config: Config, week: str | None) -> Issue:
    """The week's issue; this week's is built first when it does not exist yet."""
    report = build_issue(engine, config, week) if week is None else None
    issue = find_issue(engine, week or (report.week if report else None))
    if issue.status == "skipped":
        raise InputError(f"issue {issue.week} was skipped ({issue.note}); there is nothing to preview")
    return issue


def find_subscriber(engine: Engine, email: str) -> Subscriber:
    with session_scope(engine) as session:
        found = session.exec(select(Subscriber).where(Subscriber.email == email.strip().lower())).first()
    if found is None:
        raise InputError(f"no subscriber {email!r}")
    return found


def render_preview(engine: Engine, config: Config, week: str | None, email: str | None, fmt: str) -> bytes:
    issue = issue_to_preview(engine, config, week)
    reader = find_subscriber(engine, email) if email else sample_reader()
    composer = Composer.open(engine, config, issue)
    if fmt == "eml":
        return composer.message_for(reader, utcnow())
    rendered = composer.email_for(reader)
    return (rendered.html if fmt == "html" else rendered.text).encode("utf-8")
