"""The public job-board APIs: Greenhouse, Lever, Ashby, Remotive and Remote OK."""

from __future__ import annotations

import html
from typing import Any
from urllib.parse import urlsplit

from digest.config import SourceSettings
from digest.ingest.formats.jsondata import as_list, as_text, dig, items_at
from digest.ingest.records import RawJob, pick
from digest.text import Salary, parse_salary
from digest.timeutil import parse_date


def _dicts(items: list[Any]) -> list[dict[str, Any]]:
    return [item for item in items if isinstance(item, dict)]


def _slug_company(url: Any) -> str | None:
    """The board's company from its URL: jobs.lever.co/<company>/..., jobs.ashbyhq.com/<company>/..."""
    path = urlsplit(str(url or "")).path.strip("/").split("/")
    return path[0].replace("-", " ").title() if path and path[0] else None


def _id(item: dict[str, Any], key: str = "id") -> str | None:
    value = item.get(key)
    return None if value in (None, "") else str(value)


def greenhouse(data: Any, source: SourceSettings) -> list[RawJob]:
    """``boards-api.greenhouse.io/v1/boards/<board>/jobs?content=true``: content is HTML escaped
    once more inside the JSON string, so it is unescaped before sanitising."""
    wrapper_company = data.get("company") if isinstance(data, dict) else None
    jobs = []
    for item in _dicts(items_at(data, "jobs" if isinstance(data, dict) else "", "greenhouse")):
        location = as_text(dig(item, "location.name"))
        jobs.append(
            RawJob(
                title=as_text(item.get("title")),
                url=item.get("absolute_url"),
                guid=item.get("absolute_url") or _id(item),
                company=source.company or item.get("company_name") or as_text(wrapper_company),
                location=location,
                description_html=html.unescape(str(item.get("content") or "")),
                published=parse_date(pick(item, "first_published", "updated_at")),
                tags=[d.get("name", "") for d in _dicts(item.get("departments") or [])] + source.tags,
            )
        )
    return jobs


def lever(data: Any, source: SourceSettings) -> list[RawJob]:
    """``api.lever.co/v0/postings/<company>?mode=json``: epoch-millisecond dates, ``lists`` of
    bare ``<li>`` fragments, and a structured salary range."""
    jobs = []
    for item in _dicts(items_at(data, "", "lever")):
        categories = item.get("categories") or {}
        parts = [str(item.get("description") or "")]
        for section in _dicts(item.get("lists") or []):
            parts.append(f"<h4>{html.escape(str(section.get('text', '')))}</h4><ul>{section.get('content', '')}</ul>")
        parts.append(str(item.get("additional") or ""))
        jobs.append(
            RawJob(
                title=as_text(item.get("text")),
                url=item.get("hostedUrl"),
                guid=item.get("hostedUrl") or _id(item),
                company=source.company or _slug_company(item.get("hostedUrl")),
                location=as_text(categories.get("location")) if isinstance(categories, dict) else None,
                remote=str(item.get("workplaceType", "")).lower() == "remote" or None,
                description_html="".join(parts),
                published=parse_date(item.get("createdAt")),
                salary=_lever_salary(item.get("salaryRange")),
                tags=as_list([categories.get("team"), categories.get("commitment")]) + source.tags
                if isinstance(categories, dict)
                else source.tags,
            )
        )
    return jobs


def _lever_salary(value: Any) -> Salary | None:
    if not isinstance(value, dict) or value.get("interval") not in (None, "per-year-salary"):
        return None
    low, high = value.get("min"), value.get("max")
    if not isinstance(low, int | float) or not isinstance(high, int | float) or not 0 < low <= high:
        return None
    return Salary(int(low), int(high), str(value.get("currency") or "").upper())


def ashby(data: Any, source: SourceSettings) -> list[RawJob]:
    """``api.ashbyhq.com/posting-api/job-board/<board>?includeCompensation=true``."""
    jobs = []
    for item in _dicts(items_at(data, "jobs", "ashby")):
        if item.get("isListed") is False:
            continue
        locations = [item.get("location")] + [dig(s, "location") for s in _dicts(item.get("secondaryLocations") or [])]
        summary = dig(item, "compensation.compensationTierSummary") or dig(
            item, "compensation.scrapeableCompensationSalarySummary"
        )
        jobs.append(
            RawJob(
                title=as_text(item.get("title")),
                url=item.get("jobUrl"),
                guid=item.get("jobUrl") or _id(item),
                company=source.company or _slug_company(item.get("jobUrl")),
                location=as_text([loc for loc in locations if loc]),
                remote=bool(item.get("isRemote")) or str(item.get("workplaceType")).lower() == "remote",
                description_html=str(item.get("descriptionHtml") or "") or None,
                description_text=as_text(item.get("descriptionPlain")),
                published=parse_date(item.get("publishedAt")),
                salary_text=as_text(summary),
                tags=as_list([item.get("department"), item.get("team")]) + source.tags,
            )
        )
    return jobs


def remotive(data: Any, source: SourceSettings) -> list[RawJob]:
    """``remotive.com/api/remote-jobs``: dates without a zone (taken as UTC); every job remote."""
    return [
        RawJob(
            title=as_text(item.get("title")),
            url=item.get("url"),
            guid=item.get("url") or _id(item),
            company=as_text(item.get("company_name")),
            location=as_text(item.get("candidate_required_location")),
            remote=True,
            description_html=as_text(item.get("description")),
            published=parse_date(item.get("publication_date")),
            salary_text=as_text(item.get("salary")),
            tags=[*as_list(item.get("tags")), item.get("category") or "", *source.tags],
        )
        for item in _dicts(items_at(data, "jobs", "remotive"))
    ]


def remoteok(data: Any, source: SourceSettings) -> list[RawJob]:
    """``remoteok.com/api``: element 0 is a legal notice; text is UTF-8 read as Latin-1;
    descriptions hold literal backslash-n; a salary of 0 means unknown."""
    jobs = []
    for item in _dicts(items_at(data, "", "remoteok")):
        if not item.get("position") and not item.get("id"):
            continue  # the legal notice
        low, high = item.get("salary_min"), item.get("salary_max")
        salary = None
        if isinstance(low, int) and isinstance(high, int) and 0 < low <= high:
            salary = Salary(low, high, "USD")
        description = str(item.get("description") or "").replace("\\n", "\n")
        jobs.append(
            RawJob(
                title=as_text(item.get("position")),
                url=pick(item, "url", "apply_url"),
                guid=item.get("url") or _id(item),
                company=as_text(item.get("company")),
                location=as_text(item.get("location")),
                remote=True,
                description_html=description,
                published=parse_date(pick(item, "date", "epoch")),
                salary=salary,
                tags=as_list(item.get("tags")) + source.tags,
            )
        )
    return jobs


__all__ = ["ashby", "greenhouse", "lever", "parse_salary", "remoteok", "remotive"]
