"""Parsers: bytes of one source in, ``RawJob`` items out. ``parse_jobs`` picks the parser."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from digest.config import SourceSettings
from digest.errors import ParseError
from digest.ingest.formats import boards, generic, jsonfeed, syndication
from digest.ingest.formats.jsondata import load_json
from digest.ingest.records import RawJob

JsonParser = Callable[[Any, SourceSettings], list[RawJob]]
JSON_PARSERS: dict[str, JsonParser] = {
    "jsonfeed": jsonfeed.parse,
    "greenhouse": boards.greenhouse,
    "lever": boards.lever,
    "ashby": boards.ashby,
    "remotive": boards.remotive,
    "remoteok": boards.remoteok,
    "json": generic.parse,
}


def parse_jobs(body: bytes, source: SourceSettings) -> list[RawJob]:
    """Parse a job source in its configured format, or the one its content shows."""
    fmt = source.format or ("feed" if looks_like_xml(body) else None)
    if fmt == "feed":
        return syndication.parse(body, source)
    data = load_json(body)
    fmt = fmt or guess_json_format(data)
    return JSON_PARSERS[fmt](data, source)


def looks_like_xml(body: bytes) -> bool:
    """XML in any encoding feeds use: UTF-8 (with or without a BOM), UTF-16 or UTF-32."""
    if body.startswith((b"\xfe\xff", b"\xff\xfe", b"\x00\x00\xfe\xff")):
        return True
    return body.lstrip(b"\xef\xbb\xbf\x00 \t\r\n")[:1] == b"<"


def guess_json_format(data: Any) -> str:
    """Name the job-board API a JSON document came from, by its shape."""
    if isinstance(data, dict) and str(data.get("version", "")).split("://")[-1].startswith("jsonfeed.org/version/"):
        return "jsonfeed"
    items = data.get("jobs") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise ParseError("cannot tell the format from the content; set format: in sources.yaml")
    first = next((i for i in items if isinstance(i, dict) and len(i) > 2), {})
    for fmt, keys in _SIGNATURES:
        if keys <= first.keys():
            return fmt
    if not items:
        raise ParseError("no items, and the format cannot be told; set format: in sources.yaml")
    raise ParseError("unknown JSON shape; set format: json with a mapping in sources.yaml")


_SIGNATURES = (
    ("greenhouse", {"absolute_url", "title"}),
    ("lever", {"hostedUrl", "text"}),
    ("ashby", {"jobUrl", "title"}),
    ("remotive", {"candidate_required_location", "url"}),
    ("remoteok", {"position", "epoch"}),
)
