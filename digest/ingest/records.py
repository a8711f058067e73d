"""Normalised records: what every format's parser produces, whatever the feed looked like."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from digest.text import (
    Salary,
    absolute_url,
    fix_mojibake,
    html_to_text,
    one_line,
    parse_salary,
    sanitise_html,
    summarise,
)

REMOTE_ONLY_BOARDS = (
    "weworkremotely.com", "remotive.com", "remoteok.com", "remoteok.io",
    "workingnomads.com", "himalayas.app", "jobicy.com",
)  # fmt: skip
_LOCATION_LINE = re.compile(r"\bLocation:\s*(?:</\w+>)?\s*([^<\n]{2,120})", re.IGNORECASE)
_LABEL_LINES = re.compile(r"^(?:Location|Headquarters|URL|To apply):.*$", re.IGNORECASE | re.MULTILINE)
_REMOTE_WORDS = re.compile(r"\b(remote|anywhere|work from home|wfh|distributed)\b", re.IGNORECASE)


@dataclass(frozen=True)
class JobRecord:
    uid: str
    title: str
    company: str
    location: str
    remote: bool
    url: str
    summary: str
    html: str
    published_at: datetime | None
    salary_min: int | None = None
    salary_max: int | None = None
    salary_currency: str | None = None
    tags: tuple[str, ...] = ()

    def values(self) -> dict[str, Any]:
        """Field by field, as ``dataclasses.asdict`` gives them (without its deep copies)."""
        return {name: getattr(self, name) for name in _JOB_FIELDS}

    def content_hash(self) -> str:
        data = self.values()
        data["published_at"] = self.published_at.isoformat() if self.published_at else None
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class ProfileRecord:
    external_id: str
    name: str
    headline: str
    location: str
    skills: tuple[str, ...]
    seniority: str
    url: str
    public: bool
    created_at: datetime | None

    def values(self) -> dict[str, Any]:
        """Field by field, as ``dataclasses.asdict`` gives them (without its deep copies)."""
        return {name: getattr(self, name) for name in _PROFILE_FIELDS}

    def content_hash(self) -> str:
        data = self.values()
        data["created_at"] = self.created_at.isoformat() if self.created_at else None
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


_JOB_FIELDS = tuple(f.name for f in fields(JobRecord))
_PROFILE_FIELDS = tuple(f.name for f in fields(ProfileRecord))


@dataclass
class RawJob:
    """A posting as a parser read it, before normalisation. Text may hold HTML or mojibake."""

    title: str | None
    url: str | None
    guid: str | None = None
    company: str | None = None
    location: str | None = None
    remote: bool | None = None
    description_html: str | None = None
    description_text: str | None = None
    published: datetime | None = None
    salary: Salary | None = None
    salary_text: str | None = None
    tags: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class SourceContext:
    """What normalisation needs to know about the source an item came from."""

    name: str
    namespace: str  # where a bare guid is unique: the source's host, or its name for files
    remote: bool | None = None
    repair_encoding: bool = False


def _clean(text: str | None, ctx: SourceContext, limit: int = 300) -> str:
    text = text or ""
    if ctx.repair_encoding:
        text = fix_mojibake(text)
    return one_line(text, limit)


def normalise_job(raw: RawJob, ctx: SourceContext) -> JobRecord | None:
    """A JobRecord, or None when the posting has no title or no usable http(s) link."""
    url = absolute_url(raw.url)
    title = _clean(raw.title, ctx)
    if not url or not title:
        return None
    description = raw.description_html or ""
    if ctx.repair_encoding:
        description = fix_mojibake(description)
    text = html_to_text(description) if description else (raw.description_text or "")
    location = _clean(raw.location or _location_line(description), ctx, 200)
    salary = raw.salary or parse_salary(_clean(raw.salary_text, ctx), single=True) or parse_salary(text)
    return JobRecord(
        uid=job_uid(raw, url, title, ctx),
        title=title,
        company=_clean(raw.company, ctx, 200),
        location=location,
        remote=_is_remote(raw, ctx, location, title),
        url=url,
        summary=summarise(_LABEL_LINES.sub("", text)),
        html=sanitise_html(description, url) if description else "",
        published_at=raw.published,
        salary_min=salary.low if salary else None,
        salary_max=salary.high if salary else None,
        salary_currency=(salary.currency or None) if salary else None,
        tags=tuple(dict.fromkeys(t for t in (_clean(t, ctx, 60) for t in raw.tags) if t))[:20],
    )


def _location_line(description: str) -> str | None:
    """Boards that have no location field often write "<strong>Location:</strong> X"."""
    match = _LOCATION_LINE.search(description)
    return match.group(1) if match else None


def _is_remote(raw: RawJob, ctx: SourceContext, location: str, title: str) -> bool:
    if raw.remote is not None:
        return raw.remote
    if ctx.remote is not None:
        return ctx.remote
    host = urlsplit(raw.url or "").netloc.lower()
    if host.endswith(REMOTE_ONLY_BOARDS):
        return True
    return bool(_REMOTE_WORDS.search(location) or _REMOTE_WORDS.search(title))


def job_uid(raw: RawJob, url: str, title: str, ctx: SourceContext) -> str:
    """guid, then link, then a hash of the content (rss2email's order).

    A guid that is a URL is unique on the web, so the same posting in two feeds of one
    board gets one uid; a bare guid ("12345") is only unique within its namespace."""
    guid = (raw.guid or "").strip()
    if guid:
        return guid[:500] if absolute_url(guid) else f"{ctx.namespace}:{guid}"[:500]
    if url:
        return url[:500]
    digest = hashlib.sha256(f"{title}\n{raw.company}\n{raw.description_html}".encode()).hexdigest()
    return f"{ctx.namespace}:sha256:{digest}"


def pick(item: Any, *keys: str) -> Any:
    """The first non-empty value among ``keys`` of a dict-like item."""
    for key in keys:
        value = item.get(key) if hasattr(item, "get") else None
        if value not in (None, "", [], {}):
            return value
    return None
