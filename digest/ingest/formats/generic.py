"""Any other JSON job board, read through the field mapping given in sources.yaml."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from digest.config import SourceSettings
from digest.errors import ParseError
from digest.ingest.formats.jsondata import as_list, as_text, dig, items_at
from digest.ingest.records import RawJob
from digest.text import Salary, html_to_text
from digest.timeutil import parse_date


def parse(data: Any, source: SourceSettings) -> list[RawJob]:
    mapping = source.mapping
    if mapping is None:
        raise ParseError("format json needs a mapping in sources.yaml")
    jobs = []
    for item in items_at(data, mapping.items, "json"):
        if not isinstance(item, dict):
            continue
        remote = dig(item, mapping.remote)
        jobs.append(
            RawJob(
                title=_first_line(as_text(dig(item, mapping.title))),
                url=as_text(dig(item, mapping.url)) if mapping.url else _fill(mapping.url_template, item),
                guid=as_text(dig(item, mapping.id)),
                company=source.company or as_text(dig(item, mapping.company)),
                location=as_text(dig(item, mapping.location)),
                remote=_truthy(remote) if remote is not None else source.remote,
                description_html=as_text(dig(item, mapping.description)),
                published=parse_date(dig(item, mapping.published)),
                salary=_salary(item, source),
                tags=as_list(dig(item, mapping.tags)) + source.tags,
            )
        )
    return jobs


def _first_line(value: str | None) -> str | None:
    """Titles are one line: a field holding a whole post (an HN comment) gives its first line."""
    if not value:
        return None
    text = html_to_text(value)
    return next((line for line in text.splitlines() if line.strip()), None)


def _fill(template: str | None, item: dict[str, Any]) -> str | None:
    if not template:
        return None
    fields = {k: quote(str(v), safe="") for k, v in item.items() if isinstance(v, str | int)}
    try:
        return template.format_map(fields)
    except (KeyError, ValueError, IndexError):
        return None


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "yes", "1", "remote")
    return bool(value)


def _salary(item: Any, source: SourceSettings) -> Salary | None:
    assert source.mapping is not None
    low, high = dig(item, source.mapping.salary_min), dig(item, source.mapping.salary_max)
    try:
        low_value, high_value = int(float(low)), int(float(high))
    except (TypeError, ValueError):
        return None
    if not 0 < low_value <= high_value:
        return None
    currency = as_text(dig(item, source.mapping.salary_currency)) or ""
    return Salary(low_value, high_value, currency.upper()[:8])
