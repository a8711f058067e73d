"""A report, tied to the message it cites and recorded once; the reader changed by it.

A report changes a reader only when it cites a message digest sent: a VERP return path
with a genuine token, or one of our Message-IDs whose delivery went out. A Message-ID names
the reader's public id, which their links carry too, so with a VERP return path a bounce
must come to its signed address: there, only a complaint (a feedback loop mails a fixed
address) may be tied by Message-ID. A forged report that names a reader but cites no such
message is ``unmatched``: kept, counted, and nothing changes. A provider's webhook is
authenticated by the provider's own signature, so an event about an address we mailed ties
to the newest message that went to it when it carries no Message-ID. Every report is
recorded in ``feedback`` under its own id (the report's Message-ID, a provider's event id):
reading it again changes nothing."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from datetime import datetime

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from digest import status
from digest.config import Config
from digest.db import session_scope
from digest.deliver import ledger
from digest.deliver.returnpath import ReturnPath
from digest.feedback.reports import Kind, Report
from digest.models import Feedback, Issue
from digest.status import Status
from digest.timeutil import utcnow
from digest.tokens import signer_for

COUNTED = {Kind.HARD: "hard", Kind.SOFT: "soft", Kind.COMPLAINT: "complaints", Kind.AUTO_REPLY: "auto_replies",
           Kind.UNMATCHED: "unmatched", Kind.IGNORED: "ignored"}  # fmt: skip


@dataclass
class Tally:
    """What one read of a mailbox (or one webhook call) found."""

    processed: int = 0  # reports read and filed (every kind but unmatched)
    hard: int = 0
    soft: int = 0
    complaints: int = 0
    auto_replies: int = 0
    ignored: int = 0  # reports that say nothing against the reader: delivered, or refused for our sake
    unmatched: int = 0  # not understood, or citing no message of ours: kept for review
    seen_before: int = 0  # recorded already (a second read): nothing changed
    changed: int = 0  # readers whose status changed

    def count(self, kind: Kind) -> None:
        setattr(self, COUNTED[kind], getattr(self, COUNTED[kind]) + 1)
        if kind is not Kind.UNMATCHED:
            self.processed += 1

    def to_json(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True)
class Recorder:
    """Ties reports to deliveries and applies them, for one run of ``digest bounces`` or one
    webhook call."""

    engine: Engine
    return_path: ReturnPath
    max_soft_failures: int

    @classmethod
    def open(cls, engine: Engine, config: Config) -> Recorder:
        signer = signer_for(engine, config.settings.secret_keys)
        return cls(engine, ReturnPath.of(config, signer), config.file.delivery.max_soft_failures)

    def cited(self, report: Report, by_return_path_only: bool = False) -> ledger.Mailed | None:
        """The message the report cites, if digest sent it (``by_return_path_only``: only a
        genuine VERP token counts, not a Message-ID)."""
        for address in report.cited.addresses:
            link = self.return_path.read(address)
            if link is not None and link.public_id is not None:
                found = ledger.went_out(self.engine, link.issue_id, link.public_id)
                if found is not None:
                    return found
        if by_return_path_only:
            return None
        for week, public_id, tag in report.cited.message_ids:
            if not self.return_path.signer.message_tag_valid(week, public_id, tag):
                continue  # a Message-ID made up from a public id (which links carry) cites nothing
            issue_id = self._issue_of(week)
            found = ledger.went_out(self.engine, issue_id, public_id) if issue_id is not None else None
            if found is not None:
                return found
        return None

    def record(self, report: Report, source: str, tally: Tally, mailed: ledger.Mailed | None = None,
               now: datetime | None = None) -> Kind:  # fmt: skip
        """File the report (once), change its reader when it calls for it; the kind it was
        filed as (``unmatched`` when it cites nothing we sent)."""
        now = now or utcnow()
        report = _cleaned(report)
        bounce = report.kind in (Kind.HARD, Kind.SOFT)
        mailed = mailed or (self.cited(report, bounce and self.return_path.verp) if report.kind in _ACTS else None)
        kind = report.kind if mailed is not None or report.kind not in _ACTS else Kind.UNMATCHED
        if kind is Kind.HARD and mailed is not None and report.recipient and report.recipient != mailed.email:
            kind = Kind.IGNORED  # the mailbox it forwards to is gone, not the reader's own (no SRS on the way)
            report = replace(report, detail=f"about {report.recipient}, not the address mailed: {report.detail}")
        row = Feedback(
            key=f"{source if source in _HOOKS else 'mail'}:{report.key}"[:255], source=source, kind=kind.value,
            subscriber_id=mailed.subscriber_id if mailed else None, issue_id=mailed.issue_id if mailed else None,
            status=report.status[:16], detail=_detail(report, kind), created_at=now,
        )  # fmt: skip
        try:
            with ledger.writing(self.engine), session_scope(self.engine) as session:
                session.add(row)
                session.flush()
                if mailed is not None and self._apply(session, kind, report, source, mailed, now):
                    tally.changed += 1
        except IntegrityError:
            tally.seen_before += 1
            return kind
        tally.count(kind)
        return kind

    def _apply(self, session: Session, kind: Kind, report: Report, source: str, mailed: ledger.Mailed,
               now: datetime) -> bool:  # fmt: skip
        method = source if source in _HOOKS else ("arf" if kind is Kind.COMPLAINT else "dsn")
        detail = f"{report.status} {report.detail}".strip()
        if kind is Kind.HARD:
            return status.change_by_id(session, mailed.subscriber_id, Status.BOUNCED, method,
                                       issue_id=mailed.issue_id, detail=detail, now=now)  # fmt: skip
        if kind is Kind.COMPLAINT:
            return status.change_by_id(session, mailed.subscriber_id, Status.COMPLAINED, method,
                                       issue_id=mailed.issue_id, detail=detail, now=now)  # fmt: skip
        if kind is Kind.SOFT:
            return ledger.soft_limit_reached(session, mailed.subscriber_id, self.max_soft_failures,
                                             mailed.issue_id, now)  # fmt: skip
        return False

    def _issue_of(self, week: str) -> int | None:
        with session_scope(self.engine) as session:
            issue = session.exec(select(Issue).where(Issue.week == week)).first()
            return issue.id if issue is not None else None


_ACTS = (Kind.HARD, Kind.SOFT, Kind.COMPLAINT)  # kinds that change a reader, and so must cite a message of ours
_HOOKS = ("ses", "postmark", "sendgrid", "mailgun")


def _cleaned(report: Report) -> Report:
    """The report's text as a database stores it: no NUL, no lone surrogates (a stranger's
    mail may hold either, and PostgreSQL refuses them)."""
    return replace(report, key=_text(report.key), recipient=_text(report.recipient), status=_text(report.status),
                   detail=_text(report.detail))  # fmt: skip


def _text(value: str) -> str:
    return value.encode("utf-8", "replace").decode("utf-8").replace("\x00", "")


def _detail(report: Report, kind: Kind) -> str:
    if kind is Kind.UNMATCHED and report.kind in _ACTS:
        named = f" about {report.recipient}" if report.recipient else ""
        return f"a {report.kind.value} report{named} that cites no message digest sent: {report.detail}"[:500]
    return report.detail[:500]
