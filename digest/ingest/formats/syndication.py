"""RSS 0.9x/1.0/2.0 and Atom, through feedparser."""

from __future__ import annotations

from typing import Any

import feedparser

from digest.config import SourceSettings
from digest.errors import ParseError
from digest.ingest.formats.titles import choose_pattern, split_title
from digest.ingest.records import RawJob, pick
from digest.timeutil import parse_date


def parse(body: bytes, source: SourceSettings) -> list[RawJob]:
    # digest sanitises every fragment with nh3 afterwards; feedparser's own pass would be wasted work
    feed = feedparser.parse(body, sanitize_html=False, resolve_relative_uris=False)
    if not feed.entries:
        if feed.get("bozo"):
            raise ParseError(f"not a readable RSS or Atom feed: {_reason(feed.get('bozo_exception'))}")
        if not feed.get("version"):
            raise ParseError("not an RSS or Atom feed")
        return []
    pattern = choose_pattern([e.get("title", "") for e in feed.entries], source.title_pattern)
    return [_job(entry, pattern, source) for entry in feed.entries]


def _reason(exc: Any) -> str:
    text = " ".join(str(exc or "unknown error").split())
    return text[:200]


def _job(entry: Any, pattern: str, source: SourceSettings) -> RawJob:
    title, company = split_title(entry.get("title", ""), pattern)
    html = _body(entry)
    return RawJob(
        title=title,
        url=entry.get("link"),
        guid=entry.get("id"),
        company=source.company or company or pick(entry, "author", "dc_creator"),
        location=_location(entry),
        description_html=html,
        published=parse_date(entry.get("published_parsed") or entry.get("updated_parsed")),
        salary_text=entry.get("salary"),
        tags=[t.get("term", "") for t in entry.get("tags", []) if t.get("term")] + source.tags,
    )


def _body(entry: Any) -> str:
    contents = entry.get("content") or []
    if contents and contents[0].get("value"):
        return str(contents[0]["value"])
    return str(entry.get("summary", ""))


def _location(entry: Any) -> str | None:
    parts = [entry.get("region"), entry.get("state"), entry.get("country")]
    location = ", ".join(p.strip() for p in parts if isinstance(p, str) and p.strip())
    if location:
        return location
    value = entry.get("location")
    return value if isinstance(value, str) else None
