"""From a frozen issue to a reader's email: load the issue's items once, then draft per
segment and personalise per reader."""

from __future__ import annotations

import html
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from sqlalchemy import Engine
from sqlmodel import col, select

from digest.build.issue import segment_for
from digest.build.ranking import Pick, picks_of
from digest.config import Config
from digest.db import connection, session_scope
from digest.models import Issue, IssueItem, Job, Profile, Segment, Subscriber
from digest.preferences import Preferences
from digest.publicid import SAMPLE_PUBLIC_ID, new_public_id
from digest.render.mime import BodyTemplate, Envelope, assemble, list_headers, message_id
from digest.render.renderer import Draft, Email, JobView, PersonView, Reader, Renderer, salary_text
from digest.render.words import age, card_summary, without_repeats
from digest.timeutil import as_utc, utcnow
from digest.tokens import Signer, signer_for

CARD_SUMMARY_CHARS = 110  # a line and a half at 600 px, two lines on a phone
SEGMENTS_KEPT = 32
PICKS_KEPT = 4096


class Addressee(Protocol):
    """A reader as the composer needs one: a Subscriber, or the ledger's lighter Recipient."""

    @property
    def public_id(self) -> str: ...
    @property
    def email(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def segment_key(self) -> str: ...
    @property
    def preferences(self) -> Preferences: ...


def _job_view(job: Job, as_of: datetime) -> JobView:
    """A job's card: its details line (company, place, remote, pay, age at the issue's build) and
    a summary that does not begin by repeating the title or the company."""
    assert job.id is not None
    salary = salary_text(job.salary_min, job.salary_max, job.salary_currency)
    summary = card_summary(without_repeats(job.summary, job.title, job.company), CARD_SUMMARY_CHARS, bool(salary))
    days = (as_utc(as_of) - as_utc(job.posted_at)).total_seconds() / 86400
    return JobView(
        id=job.id, title=job.title, company=job.company, location=job.location, remote=job.remote,
        salary=salary, url=job.url, summary=summary, age=age(days),
    )  # fmt: skip


def _person_view(profile: Profile) -> PersonView:
    assert profile.id is not None
    return PersonView(
        id=profile.id, name=profile.name, headline=profile.headline, location=profile.location,
        skills=tuple(profile.skills[:6]), url=profile.url,
    )  # fmt: skip


def load_renderer(engine: Engine, config: Config, issue: Issue, whole_pool: bool = True) -> Renderer:
    """The issue's renderer. ``whole_pool=False`` (one reader's page): only the cards a draft
    shows are inlined, not the whole pool's; the HTML is the same."""
    with session_scope(engine) as session:
        items = select(IssueItem.item_id).where(IssueItem.issue_id == issue.id)
        jobs = session.exec(select(Job).where(col(Job.id).in_(items.where(IssueItem.kind == "job")))).all()
        people = session.exec(select(Profile).where(col(Profile.id).in_(items.where(IssueItem.kind == "person"))))
        job_views = {j.id: _job_view(j, issue.built_at) for j in jobs if j.id is not None}
        person_views = {p.id: _person_view(p) for p in people if p.id is not None}
    return Renderer(config, issue.week, job_views, person_views, whole_pool=whole_pool)


@dataclass(frozen=True)
class SegmentDraft:
    """A segment's draft and its bodies, quoted-printable encoded once with holes for readers;
    ``skip_reason``: why its readers are not mailed this week ("" when they are)."""

    draft: Draft
    text: BodyTemplate
    html: BodyTemplate
    skip_reason: str = ""


@dataclass
class Composer:
    """Drafts each segment once and personalises per reader."""

    engine: Engine
    config: Config
    issue: Issue
    renderer: Renderer
    signer: Signer
    store: bool = True  # False (a dry run): a segment ranked now is not stored
    segments: OrderedDict[str, SegmentDraft] = field(default_factory=OrderedDict)
    picks: dict[str, tuple[list[Pick], str]] = field(default_factory=dict)  # prefetched: picks, skip reason
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        newsletter = self.config.newsletter
        self.list_id, self.feedback_id = list_headers(newsletter.name, newsletter.sender)

    @classmethod
    def open(cls, engine: Engine, config: Config, issue: Issue, store: bool = True) -> Composer:
        """``store=False``: record nothing (no segment, no generated key): a dry run."""
        signer = signer_for(engine, config.settings.secret_keys, store=store)
        return cls(engine, config, issue, load_renderer(engine, config, issue), signer, store)

    def draft(self, prefs: Preferences) -> Draft:
        return self._segment(prefs.key, lambda: prefs).draft

    def prefetch(self, keys: Iterable[str]) -> None:
        """Read the frozen picks of these segments in one query (a sender's next batch), so
        drafting them later needs no query each. Keys without a frozen segment are ranked
        when first needed."""
        with self._lock:
            wanted = {k for k in keys if k and k not in self.segments and k not in self.picks}
        if not wanted:
            return
        query = select(Segment.key, Segment.picks, Segment.skip_reason).where(
            Segment.issue_id == self.issue.id, col(Segment.key).in_(wanted)
        )
        with connection(self.engine) as conn:
            found = {key: (picks_of(picks), reason or "") for key, picks, reason in conn.execute(query)}
        with self._lock:
            if len(self.picks) + len(found) > PICKS_KEPT:
                self.picks.clear()
            self.picks.update(found)

    def _segment_of(self, subscriber: Addressee) -> SegmentDraft:
        """The reader's segment: the one their delivery was queued in. When their preferences
        changed since, that segment's frozen preferences say what it is; one never frozen is
        ranked from the preferences they have now."""
        drafted = self._drafted(subscriber.segment_key)  # whatever their preferences are now, this is it
        if drafted is not None:
            return drafted
        prefs = subscriber.preferences
        key = subscriber.segment_key or prefs.key
        if key != prefs.key:
            frozen = self._frozen_preferences(key)
            key, prefs = (key, frozen) if frozen is not None else (prefs.key, prefs)
        return self._segment(key, lambda: prefs)

    def _drafted(self, key: str) -> SegmentDraft | None:
        """The segment's draft if it is in memory (now the most recently used), else None."""
        with self._lock:
            found = self.segments.get(key) if key else None
            if found is not None:
                self.segments.move_to_end(key)
            return found

    def _frozen_preferences(self, key: str) -> Preferences | None:
        query = select(Segment.preferences).where(Segment.issue_id == self.issue.id, Segment.key == key)
        with connection(self.engine) as conn:
            found = conn.execute(query).scalar()
        return Preferences.from_json(found) if found is not None else None

    def _segment(self, key: str, prefs: Callable[[], Preferences]) -> SegmentDraft:
        """The segment's draft, made once while it is in use (sender threads share it). Only the
        most recent SEGMENTS_KEPT stay in memory: senders work segment by segment, so memory
        stays flat however many segments there are."""
        found = self._drafted(key)
        if found is not None:
            return found
        wanted = prefs()
        with self._lock:
            frozen = self.picks.pop(key, None)
        if frozen is None:
            segment = segment_for(self.engine, self.config, self.issue, wanted, self.store)
            frozen = picks_of(segment.picks), segment.skip_reason
        picks, reason = frozen
        draft = self.renderer.draft(wanted, picks)
        tokens = self.renderer.reader_tokens
        made = SegmentDraft(draft, BodyTemplate(draft.text, tokens), BodyTemplate(draft.html, tokens), reason)
        with self._lock:
            found = self.segments.setdefault(key, made)
            while len(self.segments) > SEGMENTS_KEPT:
                self.segments.popitem(last=False)
        return found

    def unsubscribe_url(self, public_id: str) -> str:
        return self._url("unsubscribe", "u", public_id)

    def _url(self, purpose: str, path: str, public_id: str) -> str:
        assert self.issue.id is not None
        return f"{self.config.settings.base_url}/{path}/{self.signer.sign(purpose, public_id, self.issue.id)}"

    def reader(self, subscriber: Addressee, unsubscribe_url: str = "") -> Reader:
        """The reader's fields: name, address, and their own links for this issue."""
        public_id = subscriber.public_id
        return Reader(
            subscriber.email, subscriber.name, unsubscribe_url or self.unsubscribe_url(public_id),
            preferences_url=self._url("preferences", "p", public_id), view_url=self._url("view", "v", public_id),
        )  # fmt: skip

    def skip_reason(self, subscriber: Addressee) -> str:
        """Why this reader gets no email this week (too few picks of their own), or ""."""
        return self._segment_of(subscriber).skip_reason

    def email_for(self, subscriber: Addressee, unsubscribe_url: str = "") -> Email:
        reader = self.reader(subscriber, unsubscribe_url)
        return self.renderer.personalise(self._segment_of(subscriber).draft, reader)

    def message_for(self, subscriber: Addressee, date: datetime, stuffed: bool = False, test: bool = False) -> bytes:
        """The full MIME message this reader gets, byte for byte: the segment's bodies were
        encoded once; only this reader's values are encoded here. ``stuffed``: dot-stuffed
        for SMTP DATA (headers and boundaries never start with a dot). ``test``: a test copy,
        its subject marked [TEST]."""
        reader = self.reader(subscriber)
        unsubscribe_url = reader.unsubscribe_url
        segment = self._segment_of(subscriber)
        values = self.renderer.reader_values(reader)
        text_qp = segment.text.fill(values, stuffed)
        html_qp = segment.html.fill({token: html.escape(value) for token, value in values.items()}, stuffed)
        newsletter = self.config.newsletter
        named = new_public_id() if test else subscriber.public_id
        tag = self.signer.message_tag(self.issue.week, named)
        envelope = Envelope(
            sender=newsletter.sender, to_name=subscriber.name, to_address=subscriber.email,
            subject=f"[TEST] {segment.draft.subject}" if test else segment.draft.subject,
            message_id=message_id(self.issue.week, named, newsletter.sender, tag),
            date=date, unsubscribe_url=unsubscribe_url, list_id=self.list_id,
            feedback_id=self.feedback_id, reply_to=newsletter.reply_to,
        )  # fmt: skip
        return assemble(envelope, text_qp, html_qp)


def sample_reader(prefs: Preferences | None = None) -> Subscriber:
    """A reader who is not in the database, for previews: no name, no preferences, links to nobody."""
    prefs = prefs or Preferences()
    now = utcnow()
    return Subscriber(
        id=0, public_id=SAMPLE_PUBLIC_ID, email="reader@example.com", name="",
        roles=list(prefs.roles), locations=list(prefs.locations),
        remote=prefs.remote, seniority=prefs.seniority, audience=prefs.audience, created_at=now, updated_at=now,
    )  # fmt: skip
