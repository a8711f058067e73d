"""``digest stats``: per issue, what happened to its messages and who left because of it.

Bounces and complaints count readers, per issue: ``hard`` those whose mailbox was refused
for good (at send time, or in a report that came later), ``soft`` those put off for now in a
report that came later, ``complaints`` those who reported the issue as spam. A complaint rate
above 0.3% of the messages sent is the big mailbox providers' limit, and is flagged."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Engine, func
from sqlmodel import col, select

from digest.db import session_scope
from digest.deliver import ledger
from digest.models import Event, Feedback, Issue
from digest.weeks import parse_week

SPARKS = "▁▂▃▄▅▆▇█"
COMPLAINT_LIMIT = 0.003  # Gmail's and Yahoo's limit for bulk senders (2024): above it, mail goes to spam


@dataclass
class IssueStats:
    week: str
    status: str
    sent: int = 0
    failed: int = 0
    deferred: int = 0
    unknown: int = 0
    skipped: int = 0
    skipped_thin: int = 0  # of the skipped: readers with too few picks that week (newsletter.min_picks)
    queued: int = 0
    unsubscribed: int = 0
    bounced: int = 0
    hard: int = 0
    soft: int = 0
    complaints: int = 0

    @property
    def unsubscribe_rate(self) -> float:
        return self.unsubscribed / self.sent if self.sent else 0.0

    @property
    def hard_rate(self) -> float:
        return self.hard / self.sent if self.sent else 0.0

    @property
    def complaint_rate(self) -> float:
        return self.complaints / self.sent if self.sent else 0.0

    @property
    def complaints_over_limit(self) -> bool:
        return self.complaint_rate > COMPLAINT_LIMIT

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "unsubscribe_rate": round(self.unsubscribe_rate, 4),
                "hard_rate": round(self.hard_rate, 4), "complaint_rate": round(self.complaint_rate, 4),
                "complaints_over_limit": self.complaints_over_limit}  # fmt: skip


def issue_stats(engine: Engine, week: str | None = None) -> list[IssueStats]:
    with session_scope(engine) as session:
        query = select(Issue).order_by(col(Issue.week))
        if week:
            query = query.where(Issue.week == parse_week(week))
        issues = session.exec(query).all()
        events = session.exec(
            select(Event.issue_id, Event.kind, func.count())
            .where(col(Event.issue_id).is_not(None))
            .group_by(col(Event.issue_id), col(Event.kind))
        ).all()
        at_send = session.exec(
            select(Event.issue_id, func.count())
            .where(col(Event.issue_id).is_not(None), Event.kind == "bounced", Event.method == "smtp")
            .group_by(col(Event.issue_id))
        ).all()
        reported = session.exec(
            select(Feedback.issue_id, Feedback.kind, func.count(func.distinct(Feedback.subscriber_id)))
            .where(col(Feedback.issue_id).is_not(None), col(Feedback.kind).in_(("hard", "soft", "complaint")))
            .group_by(col(Feedback.issue_id), col(Feedback.kind))
        ).all()
    by_issue: dict[int | None, IssueStats] = {i.id: IssueStats(i.week, i.status) for i in issues}
    for issue_id, found in ledger.counts_by_issue(engine).items():
        for status in ("sent", "failed", "deferred", "unknown", "skipped", "skipped_thin", "queued"):
            if issue_id in by_issue:
                setattr(by_issue[issue_id], status, found[status])
    for event_issue, kind, n in events:
        if event_issue in by_issue and kind in ("unsubscribed", "bounced"):
            setattr(by_issue[event_issue], kind, int(n))
    for event_issue, n in at_send:
        if event_issue in by_issue:
            by_issue[event_issue].hard += int(n)
    for feedback_issue, kind, n in reported:
        if feedback_issue in by_issue:
            name = "complaints" if kind == "complaint" else kind
            setattr(by_issue[feedback_issue], name, getattr(by_issue[feedback_issue], name) + int(n))
    return list(by_issue.values())


def sparkline(values: list[float]) -> str:
    """A terminal chart of a weekly series: one block per week, scaled to the largest."""
    if not values:
        return ""
    top = max(values) or 1.0
    return "".join(SPARKS[min(len(SPARKS) - 1, int(v / top * (len(SPARKS) - 1) + 0.5))] for v in values)
