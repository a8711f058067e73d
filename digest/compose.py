"""From a frozen issue to a reader's email: load the issue's items once, then draft per
segment and personalise per reader."""

from __future__ import annotations

import html
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Engine
from sqlmodel import col, select

from digest.config import Config
from digest.db import session_scope
from digest.ingest.text import summarise
from digest.issues import segment_for
from digest.mime import BodyTemplate, Envelope, assemble, list_headers, message_id
from digest.models import Issue, IssueItem, Job, Profile, Subscriber
from digest.preferences import Preferences
from digest.render import Draft, Email, JobView, PersonView, Reader, Renderer, salary_text
from digest.timeutil import utcnow
from digest.tokens import Signer, signer_for

CARD_SUMMARY_CHARS = 220
DRAFTS_KEPT = 256


def _job_view(job: Job) -> JobView:
    assert job.id is not None
    return JobView(
        id=job.id, title=job.title, company=job.company, location=job.location, remote=job.remote,
        salary=salary_text(job.salary_min, job.salary_max, job.salary_currency), url=job.url,
        summary=summarise(job.summary, CARD_SUMMARY_CHARS),
    )  # fmt: skip


def _person_view(profile: Profile) -> PersonView:
    assert profile.id is not None
    return PersonView(
        id=profile.id, name=profile.name, headline=profile.headline, location=profile.location,
        skills=tuple(profile.skills[:6]), url=profile.url,
    )  # fmt: skip


def load_renderer(engine: Engine, config: Config, issue: Issue) -> Renderer:
    with session_scope(engine) as session:
        items = select(IssueItem.item_id).where(IssueItem.issue_id == issue.id)
        jobs = session.exec(select(Job).where(col(Job.id).in_(items.where(IssueItem.kind == "job")))).all()
        people = session.exec(select(Profile).where(col(Profile.id).in_(items.where(IssueItem.kind == "person"))))
        job_views = {j.id: _job_view(j) for j in jobs if j.id is not None}
        person_views = {p.id: _person_view(p) for p in people if p.id is not None}
    return Renderer(config, issue.week, job_views, person_views)


@dataclass
class Composer:
    """Drafts each segment once and personalises per reader."""

    engine: Engine
    config: Config
    issue: Issue
    renderer: Renderer
    signer: Signer
    drafts: OrderedDict[str, Draft] = field(default_factory=OrderedDict)
    _templates: dict[int, tuple[BodyTemplate, BodyTemplate]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def open(cls, engine: Engine, config: Config, issue: Issue) -> Composer:
        signer = signer_for(engine, config.settings.secret_keys)
        return cls(engine, config, issue, load_renderer(engine, config, issue), signer)

    def draft(self, prefs: Preferences, key: str = "") -> Draft:
        """The segment's draft, made once while it is in use (sender threads share it). Only the
        most recent DRAFTS_KEPT stay in memory: senders work segment by segment, so memory
        stays flat however many segments there are."""
        key = key or prefs.key
        with self._lock:
            found = self.drafts.get(key)
            if found is not None:
                self.drafts.move_to_end(key)
                return found
        segment = segment_for(self.engine, self.config, self.issue, prefs)
        made = self.renderer.draft(prefs, segment.picks)
        with self._lock:
            found = self.drafts.setdefault(key, made)
            while len(self.drafts) > DRAFTS_KEPT:
                _, old = self.drafts.popitem(last=False)
                self._templates.pop(id(old), None)
        return found

    def unsubscribe_url(self, subscriber_id: int) -> str:
        assert self.issue.id is not None
        token = self.signer.sign("unsubscribe", subscriber_id, self.issue.id)
        return f"{self.config.settings.base_url}/u/{token}"

    def email_for(self, subscriber: Subscriber, unsubscribe_url: str = "") -> Email:
        assert subscriber.id is not None
        reader = Reader(subscriber.email, subscriber.name, unsubscribe_url or self.unsubscribe_url(subscriber.id))
        return self.renderer.personalise(self.draft(subscriber.preferences, subscriber.segment_key), reader)

    def _bodies(self, subscriber: Subscriber) -> tuple[Draft, BodyTemplate, BodyTemplate]:
        draft = self.draft(subscriber.preferences, subscriber.segment_key)
        found = self._templates.get(id(draft))
        if found is None:
            tokens = self.renderer.reader_tokens
            found = (BodyTemplate(draft.text, tokens), BodyTemplate(draft.html, tokens))
            with self._lock:
                if id(draft) in {id(d) for d in self.drafts.values()}:
                    self._templates[id(draft)] = found
        return draft, found[0], found[1]

    def message_for(self, subscriber: Subscriber, date: datetime) -> bytes:
        """The full MIME message this reader gets, byte for byte: the segment's bodies were
        encoded once; only this reader's values are encoded here."""
        assert subscriber.id is not None
        unsubscribe_url = self.unsubscribe_url(subscriber.id)
        draft, text_body, html_body = self._bodies(subscriber)
        values = self.renderer.reader_values(Reader(subscriber.email, subscriber.name, unsubscribe_url))
        text_qp = text_body.fill(values)
        html_qp = html_body.fill({token: html.escape(value) for token, value in values.items()})
        newsletter = self.config.newsletter
        list_id, feedback_id = list_headers(newsletter.name, newsletter.sender)
        envelope = Envelope(
            sender=newsletter.sender, to_name=subscriber.name, to_address=subscriber.email,
            subject=draft.subject, message_id=message_id(self.issue.week, subscriber.id, newsletter.sender),
            date=date, unsubscribe_url=unsubscribe_url, list_id=list_id,
            feedback_id=feedback_id, reply_to=newsletter.reply_to,
        )  # fmt: skip
        return assemble(envelope, text_qp, html_qp)


def sample_reader(prefs: Preferences | None = None) -> Subscriber:
    """A reader who is not in the database, for previews: no name, no preferences."""
    prefs = prefs or Preferences()
    now = utcnow()
    return Subscriber(
        id=0, email="reader@example.com", name="", roles=list(prefs.roles), locations=list(prefs.locations),
        remote=prefs.remote, seniority=prefs.seniority, audience=prefs.audience, created_at=now, updated_at=now,
    )  # fmt: skip
