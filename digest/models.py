"""The tables. Times are stored in UTC and always come back as aware datetimes.

Schema changes go through Alembic (``digest/migrations``); these classes and the
migrations must describe the same tables (a test compares them).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Text, UniqueConstraint, event
from sqlmodel import Field, SQLModel

from digest.dbtypes import UTCDateTime
from digest.preferences import Preferences
from digest.publicid import new_public_id


class Source(SQLModel, table=True):
    """A feed or API named in sources.yaml, with the state of its last fetch."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, max_length=64)
    kind: str = Field(max_length=16)
    url: str = Field(sa_type=Text)
    etag: str | None = Field(default=None, sa_type=Text)
    last_modified: str | None = Field(default=None, sa_type=Text)
    last_status: str | None = Field(default=None, max_length=32)
    last_error: str | None = Field(default=None, sa_type=Text)
    last_fetched_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_ok_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    items_seen: int = 0


class Job(SQLModel, table=True):
    """One job posting, stored once however many feeds list it."""

    id: int | None = Field(default=None, primary_key=True)
    uid: str = Field(unique=True, max_length=512)
    title: str = Field(sa_type=Text)
    company: str = Field(default="", sa_type=Text)
    location: str = Field(default="", sa_type=Text)
    remote: bool = False
    salary_min: int | None = Field(default=None, sa_type=BigInteger)
    salary_max: int | None = Field(default=None, sa_type=BigInteger)
    salary_currency: str | None = Field(default=None, max_length=8)
    url: str = Field(sa_type=Text)
    summary: str = Field(default="", sa_type=Text)
    html: str = Field(default="", sa_type=Text)
    tags: list[str] = Field(default_factory=list, sa_type=JSON)
    published_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    first_seen_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)
    content_hash: str = Field(max_length=64)

    @property
    def posted_at(self) -> datetime:
        """When the posting counts as new: the feed's date, else when we first saw it."""
        return self.published_at or self.first_seen_at


class JobSource(SQLModel, table=True):
    """Which sources list a job (We Work Remotely repeats a job across category feeds)."""

    __tablename__ = "job_source"
    job_id: int = Field(foreign_key="job.id", primary_key=True, ondelete="CASCADE")
    source_id: int = Field(foreign_key="source.id", primary_key=True, ondelete="CASCADE")
    first_seen_at: datetime = Field(sa_type=UTCDateTime)


class Profile(SQLModel, table=True):
    """A product person who joined the marketplace; only public ones are ever featured."""

    __table_args__ = (UniqueConstraint("source_id", "external_id"),)
    id: int | None = Field(default=None, primary_key=True)
    source_id: int = Field(foreign_key="source.id", ondelete="CASCADE")
    external_id: str = Field(max_length=256)
    name: str = Field(sa_type=Text)
    headline: str = Field(default="", sa_type=Text)
    location: str = Field(default="", sa_type=Text)
    skills: list[str] = Field(default_factory=list, sa_type=JSON)
    seniority: str = Field(default="", max_length=64)
    url: str = Field(default="", sa_type=Text)
    public: bool = False
    created_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    first_seen_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)
    content_hash: str = Field(max_length=64)

    @property
    def joined_at(self) -> datetime:
        return self.created_at or self.first_seen_at


class Subscriber(SQLModel, table=True):
    """A reader; the email is stored normalised (lower case), so case variants are one person."""

    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(default_factory=new_public_id, unique=True, max_length=32)  # in links; never the row id
    email: str = Field(unique=True, max_length=320)
    name: str = Field(default="", sa_type=Text)
    status: str = Field(default="active", max_length=16, index=True)
    roles: list[str] = Field(default_factory=list, sa_type=JSON)
    locations: list[str] = Field(default_factory=list, sa_type=JSON)
    remote: bool | None = None
    seniority: str = Field(default="", max_length=64)
    audience: str = Field(default="both", max_length=8)
    segment_key: str = Field(default="", max_length=64, index=True)
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)
    asked_to_return_at: datetime | None = Field(default=None, sa_type=UTCDateTime)  # a confirmation link's time
    paused_until: datetime | None = Field(default=None, sa_type=UTCDateTime)  # no issue before this time

    @property
    def preferences(self) -> Preferences:
        return Preferences.of(self.roles, self.locations, self.remote, self.seniority, self.audience)


@event.listens_for(Subscriber, "before_insert")
@event.listens_for(Subscriber, "before_update")
def _keep_segment_key(_mapper: Any, _connection: Any, subscriber: Subscriber) -> None:
    subscriber.segment_key = subscriber.preferences.key


class Issue(SQLModel, table=True):
    """One week's digest. Once built it is frozen: its pool and its segments' picks never change."""

    id: int | None = Field(default=None, primary_key=True)
    week: str = Field(unique=True, max_length=10)  # ISO week in the newsletter's timezone: 2026-W48
    status: str = Field(default="built", max_length=16)  # built | skipped
    note: str = Field(default="", sa_type=Text)
    built_at: datetime = Field(sa_type=UTCDateTime)
    window_start: datetime = Field(sa_type=UTCDateTime)
    window_end: datetime = Field(sa_type=UTCDateTime)
    jobs: int = 0
    people: int = 0


class IssueItem(SQLModel, table=True):
    """A job or person in an issue's pool; ``featured`` once a segment picks it."""

    __tablename__ = "issue_item"
    issue_id: int = Field(foreign_key="issue.id", primary_key=True, ondelete="CASCADE")
    kind: str = Field(primary_key=True, max_length=8)  # job | person
    item_id: int = Field(primary_key=True)
    featured: bool = False


class Segment(SQLModel, table=True):
    """Readers with the same preferences share a segment; its ranked picks are frozen here."""

    __table_args__ = (UniqueConstraint("issue_id", "key"),)
    id: int | None = Field(default=None, primary_key=True)
    issue_id: int = Field(foreign_key="issue.id", ondelete="CASCADE", index=True)
    key: str = Field(max_length=64)
    preferences: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    picks: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSON)
    skip_reason: str = Field(default="", max_length=200, sa_column_kwargs={"server_default": ""})  # not mailed: why
    created_at: datetime = Field(sa_type=UTCDateTime)


class Setting(SQLModel, table=True):
    """Small pieces of state digest keeps for itself (a generated signing key, for one)."""

    key: str = Field(primary_key=True, max_length=64)
    value: str = Field(sa_type=Text)


class Delivery(SQLModel, table=True):
    """The ledger: one row per (issue, subscriber), whatever happens to the message.

    queued -> sending (committed before SMTP DATA) -> sent | failed | deferred | unknown,
    or skipped when the reader is suppressed by the time their turn comes."""

    __table_args__ = (
        UniqueConstraint("issue_id", "subscriber_id"),
        Index("ix_delivery_issue_status", "issue_id", "status", "id"),
        Index("ix_delivery_issue_segment", "issue_id", "status", "segment_key", "id"),
    )
    id: int | None = Field(default=None, primary_key=True)
    issue_id: int = Field(foreign_key="issue.id", ondelete="CASCADE")
    subscriber_id: int = Field(foreign_key="subscriber.id", ondelete="CASCADE", index=True)
    status: str = Field(default="queued", max_length=16)
    segment_key: str = Field(default="", max_length=64)  # senders work through one segment at a time
    attempts: int = 0
    reply: str = Field(default="", sa_type=Text)
    claimed_by: str | None = Field(default=None, max_length=128)
    lease_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    next_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class Event(SQLModel, table=True):
    """Something that changed a reader's status: unsubscribed (one-click or link), resubscribed,
    bounced, complained, confirmed; with the issue that caused it when there is one."""

    id: int | None = Field(default=None, primary_key=True)
    subscriber_id: int | None = Field(default=None, foreign_key="subscriber.id", ondelete="CASCADE", index=True)
    issue_id: int | None = Field(default=None, foreign_key="issue.id", ondelete="SET NULL", index=True)
    kind: str = Field(max_length=16)
    method: str = Field(default="", max_length=16)
    detail: str = Field(default="", sa_type=Text)
    created_at: datetime = Field(sa_type=UTCDateTime)


class Suppression(SQLModel, table=True):
    """Addresses never to mail again, kept as a salted hash after their owner was forgotten."""

    email_hash: str = Field(primary_key=True, max_length=64)
    reason: str = Field(max_length=16)
    created_at: datetime = Field(sa_type=UTCDateTime)


class Throttle(SQLModel, table=True):
    """One signup attempt, by a keyed hash of what it counts against (an address, a client):
    rate limits that hold across every ``digest serve`` process sharing the database."""

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=64, index=True)
    at: datetime = Field(sa_type=UTCDateTime, index=True)


class Feedback(SQLModel, table=True):
    """A report that arrived after a send (a bounce, a delay, a complaint, an auto-reply, or
    mail nobody could tie to a delivery), from a mailbox or a provider's webhook; recorded
    once, by its own id, so reading it again changes nothing."""

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True, max_length=255)  # "mail:<the report's Message-ID>", "ses:<event id>"...
    source: str = Field(max_length=16)  # maildir | imap | ses | postmark | sendgrid | mailgun
    kind: str = Field(max_length=16)  # hard | soft | complaint | auto_reply | ignored | unmatched
    subscriber_id: int | None = Field(default=None, foreign_key="subscriber.id", ondelete="CASCADE", index=True)
    issue_id: int | None = Field(default=None, foreign_key="issue.id", ondelete="SET NULL", index=True)
    status: str = Field(default="", max_length=16)  # the enhanced status code, 5.1.1
    detail: str = Field(default="", sa_type=Text)
    created_at: datetime = Field(sa_type=UTCDateTime)
