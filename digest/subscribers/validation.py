"""Validating and normalising subscriber records: addresses, preferences, statuses."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from digest.addresses import BAD_CHARS, normalise_email
from digest.errors import SubscriberError
from digest.preferences import AUDIENCES, UnknownLevel, seniority_of
from digest.publicid import PUBLIC_ID
from digest.status import STATUSES
from digest.timeutil import as_utc

FIELDS = ("email", "name", "roles", "locations", "remote", "seniority", "audience", "status", "public_id",
          "paused_until")  # fmt: skip
PREFERENCE_KEYS = ("name", "roles", "locations", "remote", "seniority", "audience")
BATCH = 1000


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    items = [str(v) for v in value] if isinstance(value, list) else str(value).split(";")
    return [" ".join(i.split()) for i in items if i.strip()]


def _as_bool(value: Any, key: str) -> bool | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "yes", "1", "y"):
        return True
    if text in ("false", "no", "0", "n"):
        return False
    raise SubscriberError(f"{key}: expected true or false, not {value!r}")


def _as_time(value: Any, key: str) -> datetime | None:
    if value is None or str(value).strip() == "":
        return None
    if isinstance(value, datetime):
        return as_utc(value)
    try:
        return as_utc(datetime.fromisoformat(str(value).strip()))
    except ValueError:
        raise SubscriberError(f"{key}: expected an ISO 8601 time (2026-12-24T09:00:00+00:00), not {value!r}") from None


def clean_record(record: Mapping[str, Any]) -> dict[str, Any]:
    """Validate one record's fields (CSV row, JSONL object or --pref values)."""
    unknown = set(record) - set(FIELDS)
    if unknown:
        raise SubscriberError(f"unknown field {sorted(unknown)[0]!r} (known: {', '.join(FIELDS)})")
    for key, value in record.items():
        if any(c in str(value) for c in BAD_CHARS):
            raise SubscriberError(f"{key}: contains a line break or NUL")
    out: dict[str, Any] = {"email": normalise_email(str(record.get("email") or ""))}
    if "name" in record:
        out["name"] = " ".join(str(record["name"] or "").split())[:200]
    for key in ("roles", "locations"):
        if key in record:
            out[key] = _as_list(record[key])[:20]
    if "remote" in record:
        out["remote"] = _as_bool(record["remote"], "remote")
    if "seniority" in record:
        try:
            out["seniority"] = seniority_of(str(record["seniority"] or ""))
        except UnknownLevel as exc:
            raise SubscriberError(f"seniority: {exc}") from None
    if record.get("audience") not in (None, ""):
        audience = str(record["audience"]).strip().lower()
        if audience not in AUDIENCES:
            raise SubscriberError(f"audience: expected jobs, people or both, not {record['audience']!r}")
        out["audience"] = audience
    if record.get("status") not in (None, ""):
        status = str(record["status"]).strip().lower()
        if status not in STATUSES:
            raise SubscriberError(f"status: expected one of {', '.join(STATUSES)}, not {record['status']!r}")
        out["status"] = status
    if "paused_until" in record:
        out["paused_until"] = _as_time(record["paused_until"], "paused_until")
    if record.get("public_id") not in (None, ""):
        public_id = str(record["public_id"]).strip().lower()
        if not PUBLIC_ID.fullmatch(public_id):
            raise SubscriberError(f"public_id: expected 32 hex digits, not {record['public_id']!r}")
        out["public_id"] = public_id
    return out


def parse_prefs(pairs: Iterable[str]) -> dict[str, Any]:
    """``--pref KEY=VALUE`` values (lists separated by ';')."""
    record: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip().lower()
        if not sep or key not in PREFERENCE_KEYS:
            raise SubscriberError(f"--pref {pair!r}: expected KEY=VALUE with KEY one of {', '.join(PREFERENCE_KEYS)}")
        record[key] = value
    return clean_prefs(record)


def clean_prefs(record: Mapping[str, Any]) -> dict[str, Any]:
    """Validate preference fields alone (no address): ``--pref`` values, a posted form."""
    cleaned = clean_record({"email": "x@example.com", **record})
    cleaned.pop("email")
    return cleaned
