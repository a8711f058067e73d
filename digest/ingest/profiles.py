"""Profiles of people who joined the marketplace: JSONL, a JSON array, or CSV.

Columns/keys: id, name, headline, location, skills (list, or ';'-separated in CSV),
seniority, url, created_at (ISO 8601), public (only true profiles may be featured).
Email addresses and phone numbers are removed from every text field."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

from digest.errors import ParseError
from digest.ingest.formats.jsondata import load_json
from digest.ingest.records import ProfileRecord
from digest.text import absolute_url, one_line, strip_contact
from digest.timeutil import parse_date

TRUE_WORDS = ("true", "yes", "1", "y", "public")


def parse_profiles(body: bytes, fmt: str | None) -> tuple[list[ProfileRecord], int]:
    """The profiles in ``body`` and how many records were unusable (no id or no name)."""
    rows = list(_rows(body, fmt or guess_profile_format(body)))
    records = [r for r in (profile_from_row(row) for row in rows) if r is not None]
    return records, len(rows) - len(records)


def guess_profile_format(body: bytes) -> str:
    head = body.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    if head == b"[":
        return "json"
    if head == b"{":
        return "jsonl"
    return "csv"


def _rows(body: bytes, fmt: str) -> Iterator[dict[str, Any]]:
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ParseError(f"not UTF-8 text (byte {exc.start})") from None
    if fmt == "json":
        data = load_json(body)
        items = data.get("profiles") if isinstance(data, dict) else data
        if not isinstance(items, list):
            raise ParseError("expected a JSON array of profiles")
        yield from (i for i in items if isinstance(i, dict))
    elif fmt == "jsonl":
        yield from _jsonl(text)
    else:
        yield from csv.DictReader(io.StringIO(text, newline=""))


def _jsonl(text: str) -> Iterator[dict[str, Any]]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ParseError(f"line {number}: invalid JSON: {exc.msg}") from None
        if isinstance(item, dict):
            yield item


def _skills(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = value.split(";") if ";" in value else value.split(",")
    if not isinstance(value, list):
        return ()
    skills = (one_line(strip_contact(str(s)), 60) for s in value if isinstance(s, str | int))
    return tuple(dict.fromkeys(s for s in skills if s))[:30]


def _public(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value or "").strip().lower() in TRUE_WORDS


def profile_from_row(row: dict[str, Any]) -> ProfileRecord | None:
    external_id = one_line(str(row.get("id") or ""), 200)
    name = one_line(strip_contact(str(row.get("name") or "")), 120)
    if not external_id or not name:
        return None
    return ProfileRecord(
        external_id=external_id,
        name=name,
        headline=one_line(strip_contact(str(row.get("headline") or "")), 200),
        location=one_line(strip_contact(str(row.get("location") or "")), 120),
        skills=_skills(row.get("skills")),
        seniority=one_line(str(row.get("seniority") or ""), 60).lower(),
        url=absolute_url(str(row.get("url") or "")) or "",
        public=_public(row.get("public")),
        created_at=parse_date(row.get("created_at")),
    )
