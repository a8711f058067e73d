"""Job boards put the employer in the title: "Company: Title" (We Work Remotely) or
"Title - Organisation" (Research Computing Teams). Split them per source."""

from __future__ import annotations

from collections.abc import Sequence

COMPANY_FIRST, COMPANY_LAST, TITLE_ONLY = "company: title", "title - company", "title"
_SHARE = 0.8  # the share of titles that must follow a pattern for "auto" to pick it


def choose_pattern(titles: Sequence[str], configured: str) -> str:
    if configured != "auto":
        return configured
    if not titles:
        return TITLE_ONLY
    if sum(": " in t for t in titles) >= _SHARE * len(titles):
        return COMPANY_FIRST
    if sum(" - " in t for t in titles) >= _SHARE * len(titles):
        return COMPANY_LAST
    return TITLE_ONLY


def split_title(title: str, pattern: str) -> tuple[str, str]:
    """(title, company) following ``pattern``; the title unchanged when it does not fit."""
    if pattern == COMPANY_FIRST and ": " in title:
        company, _, rest = title.partition(": ")
        return rest.strip(), company.strip()
    if pattern == COMPANY_LAST and " - " in title:
        rest, _, company = title.rpartition(" - ")
        return rest.strip(), company.strip()
    return title, ""
