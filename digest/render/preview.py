"""``digest preview``: exactly what one reader would get, as HTML, text or the whole message."""

from __future__ import annotations

from sqlalchemy import Engine

from digest.addresses import find_reader, normalise_email
from digest.build.issue import find_issue, issue_of_week
from digest.config import Config
from digest.db import session_scope
from digest.errors import InputError
from digest.models import Issue, Subscriber
from digest.render.compose import Composer, sample_reader
from digest.timeutil import utcnow


def issue_to_preview(engine: Engine, config: Config, week: str | None) -> Issue:
    """The week's issue; this week's is built first when it does not exist yet."""
    issue = find_issue(engine, week) if week else issue_of_week(engine, config)
    if issue.status == "skipped":
        raise InputError(f"issue {issue.week} was skipped ({issue.note}); there is nothing to preview")
    return issue


def render_preview(engine: Engine, config: Config, week: str | None, email: str | None, fmt: str) -> bytes:
    """``email``: the reader to preview as (default: the sample reader)."""
    issue = issue_to_preview(engine, config, week)
    reader = _reader(engine, email) if email else sample_reader()
    composer = Composer.open(engine, config, issue)
    skipped = composer.skip_reason(reader)
    if skipped:
        raise InputError(f"{email} gets no email in {issue.week} ({skipped.removeprefix('thin: ')}): there is "
                         f"nothing to preview")  # fmt: skip
    if fmt == "eml":
        return composer.message_for(reader, utcnow())
    rendered = composer.email_for(reader)
    return (rendered.html if fmt == "html" else rendered.text).encode("utf-8")


def _reader(engine: Engine, email: str) -> Subscriber:
    with session_scope(engine) as session:
        found = find_reader(session, normalise_email(email))
    if found is None:
        raise InputError(f"no subscriber {email!r}")
    return found
