"""JSON Feed 1.0 and 1.1 (https://jsonfeed.org/version/1.1); feedparser 6.0.x cannot read it."""

from __future__ import annotations

from typing import Any

from digest.config import SourceSettings
from digest.errors import ParseError
from digest.ingest.formats.titles import choose_pattern, split_title
from digest.ingest.records import RawJob, pick
from digest.timeutil import parse_date


def parse(data: Any, source: SourceSettings) -> list[RawJob]:
    if not isinstance(data, dict) or not str(data.get("version", "")).split("://")[-1].startswith(
        "jsonfeed.org/version/1"
    ):
        raise ParseError("not a JSON Feed (no version https://jsonfeed.org/version/1.x)")
    items = data.get("items")
    if not isinstance(items, list):
        raise ParseError("JSON Feed without an items list")
    entries = [i for i in items if isinstance(i, dict)]
    pattern = choose_pattern([str(i.get("title") or "") for i in entries], source.title_pattern)
    return [_job(item, pattern, source) for item in entries]


def _author(item: dict[str, Any]) -> str | None:
    authors = item.get("authors") or ([item["author"]] if isinstance(item.get("author"), dict) else [])
    names = [str(a["name"]) for a in authors if isinstance(a, dict) and a.get("name")]
    return ", ".join(names) or None


def _job(item: dict[str, Any], pattern: str, source: SourceSettings) -> RawJob:
    title, company = split_title(str(item.get("title") or ""), pattern)
    html = pick(item, "content_html")
    return RawJob(
        title=title or str(item.get("summary") or "")[:120],
        url=pick(item, "url", "external_url"),
        guid=str(item["id"]) if item.get("id") not in (None, "") else None,
        company=source.company or company or _author(item),
        description_html=str(html) if html else None,
        description_text=str(pick(item, "content_text", "summary") or "") or None,
        published=parse_date(pick(item, "date_published", "date_modified")),
        tags=[str(t) for t in item.get("tags") or [] if isinstance(t, str)] + source.tags,
    )
