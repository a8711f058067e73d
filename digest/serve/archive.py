"""The public archive: every sent issue as anyone would see it, and its Atom and JSON feeds.

An issue's public version is the segment of a reader with no preferences, from the frozen
picks: no reader's name, address, link or choices appear in it. Only issues that went to
someone are listed. Reading the archive changes nothing: a public segment the issue never
ranked is ranked in memory, not stored."""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from xml.etree import ElementTree as ET

from sqlalchemy import Engine
from sqlmodel import col, select

from digest.build.issue import segment_for
from digest.build.ranking import picks_of
from digest.config import Config
from digest.db import session_scope
from digest.deliver import ledger
from digest.models import Issue
from digest.preferences import Preferences
from digest.render.compose import load_renderer
from digest.render.renderer import JobView, PersonView, week_label
from digest.timeutil import as_utc

ATOM = "http://www.w3.org/2005/Atom"
IN_FEEDS = 20  # the newest issues the feeds carry
ENTRIES_KEPT = 30.0  # seconds the list of sent issues is kept (an issue appears within that of its first send)
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")  # what XML 1.0 cannot carry


@dataclass(frozen=True)
class Entry:
    """A sent issue in the archive's list."""

    week: str
    label: str
    sent_at: datetime
    issue_id: int


@dataclass(frozen=True)
class Public:
    """An issue's public version."""

    entry: Entry
    jobs: list[JobView]
    people: list[PersonView]


class Archive:
    """The sent issues' public versions; each is made once (an issue, once sent, never changes)."""

    def __init__(self, engine: Engine, config: Config) -> None:
        self.engine, self.config = engine, config
        self._made: dict[int, Public] = {}
        self._lock = threading.Lock()
        self._entries: tuple[float, list[Entry]] | None = None

    def entries(self) -> list[Entry]:
        """The sent issues, newest first; read again at most every ``ENTRIES_KEPT`` seconds."""
        with self._lock:
            if self._entries is not None and time.monotonic() - self._entries[0] < ENTRIES_KEPT:
                return self._entries[1]
        sent = ledger.sent_issues(self.engine)
        found: list[Entry] = []
        if sent:
            with session_scope(self.engine) as session:
                issues = session.exec(select(Issue).where(col(Issue.id).in_(list(sent)))).all()
                found = [Entry(i.week, week_label(i.week), as_utc(sent[i.id or 0]), i.id or 0) for i in issues]
        found.sort(key=lambda e: e.week, reverse=True)
        with self._lock:
            self._entries = (time.monotonic(), found)
        return found

    def issue(self, week: str) -> Public | None:
        entry = next((e for e in self.entries() if e.week == week), None)
        if entry is None:
            return None
        with self._lock:
            made = self._made.get(entry.issue_id)
            if made is None:
                made = self._made[entry.issue_id] = self._make(entry)
        return made

    def _make(self, entry: Entry) -> Public:
        with session_scope(self.engine) as session:
            issue = session.get(Issue, entry.issue_id)
            assert issue is not None
            session.expunge(issue)
        picks = picks_of(segment_for(self.engine, self.config, issue, Preferences(), store=False).picks)
        renderer = load_renderer(self.engine, self.config, issue, whole_pool=False)
        jobs = [renderer.jobs[p.id] for p in picks if p.kind == "job" and p.id in renderer.jobs]
        people = [renderer.people[p.id] for p in picks if p.kind == "person" and p.id in renderer.people]
        return Public(entry, jobs, people)

    def atom(self, base: str, content: dict[str, str]) -> bytes:
        """The Atom feed (RFC 4287) of the sent issues; ``content``: each week's HTML."""
        name = self.config.newsletter.name
        feed = ET.Element("feed", xmlns=ATOM)
        entries = self.entries()
        ET.SubElement(feed, "title").text = _xml(name)
        ET.SubElement(feed, "id").text = f"{base}/archive/"
        ET.SubElement(feed, "link", href=f"{base}/archive/")
        ET.SubElement(feed, "link", rel="self", href=f"{base}/archive/feed.xml")
        ET.SubElement(feed, "updated").text = _iso(entries[0].sent_at if entries else datetime(2000, 1, 1))
        ET.SubElement(ET.SubElement(feed, "author"), "name").text = _xml(name)
        for e in (e for e in entries if e.week in content):
            item = ET.SubElement(feed, "entry")
            ET.SubElement(item, "title").text = _xml(f"{name}: {e.label}")
            ET.SubElement(item, "id").text = f"{base}/archive/{e.week}"
            ET.SubElement(item, "link", href=f"{base}/archive/{e.week}")
            ET.SubElement(item, "updated").text = _iso(e.sent_at)
            ET.SubElement(item, "published").text = _iso(e.sent_at)
            ET.SubElement(item, "content", type="html").text = _xml(content.get(e.week, ""))
        return b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(feed, encoding="unicode").encode()

    def json_feed(self, base: str, content: dict[str, str]) -> bytes:
        """The JSON Feed 1.1 of the sent issues."""
        name = self.config.newsletter.name
        items = [{"id": f"{base}/archive/{e.week}", "url": f"{base}/archive/{e.week}", "title": f"{name}: {e.label}",
                  "content_html": content.get(e.week, ""), "date_published": _iso(e.sent_at)}
                 for e in self.entries() if e.week in content]  # fmt: skip
        feed = {"version": "https://jsonfeed.org/version/1.1", "title": name, "home_page_url": f"{base}/archive/",
                "feed_url": f"{base}/archive/feed.json", "language": "en", "items": items}  # fmt: skip
        return json.dumps(feed, ensure_ascii=False, indent=1).encode()


def _iso(moment: datetime) -> str:
    return as_utc(moment).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _xml(text: str) -> str:
    """Text XML 1.0 can carry: a control character a feed once slipped in would break the feed."""
    return _NOT_XML.sub("", text)
