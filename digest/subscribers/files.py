"""Files of subscribers: streaming CSV/JSONL import (bounded memory) and export."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import sqlite3
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from digest import status
from digest.db import session_scope
from digest.errors import InputError, SubscriberError
from digest.models import Subscriber, Suppression
from digest.preferences import Preferences
from digest.publicid import new_public_id
from digest.status import SUPPRESSED, Status
from digest.subscribers.store import _apply, _salt, as_record, iter_subscribers
from digest.subscribers.validation import BATCH, FIELDS, clean_record
from digest.timeutil import utcnow

# ---- files ---------------------------------------------------------------------------------


@dataclass
class ImportReport:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    kept_suppressed: int = 0
    duplicates: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"added": self.added, "updated": self.updated, "unchanged": self.unchanged,
                "kept_suppressed": self.kept_suppressed, "duplicates": self.duplicates,
                "rejected": self.rejected}  # fmt: skip


def read_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(physical line number, record) from a CSV (header = line 1) or JSONL file, streamed."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            first = handle.readline()
            handle.seek(0)
            yield from (_jsonl_rows(handle) if first.lstrip().startswith("{") else _csv_rows(handle))
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None


def _jsonl_rows(handle: io.TextIOBase) -> Iterator[tuple[int, dict[str, Any]]]:
    for number, line in enumerate(handle, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            yield number, {"__error__": f"invalid JSON: {exc.msg}"}
            continue
        yield number, record if isinstance(record, dict) else {"__error__": "expected a JSON object"}


def _csv_rows(handle: io.TextIOBase) -> Iterator[tuple[int, dict[str, Any]]]:
    """One record per physical line: line breaks are refused inside values anyway, so a stray
    quote spoils only its own line instead of swallowing the rest of the file."""
    header: list[str] | None = None
    for number, line in enumerate(handle, start=1):
        text = line.rstrip("\r\n")
        if header is None:
            header = [h.strip().lower() for h in _parse_csv_line(text) or []]
            if "email" not in header:
                raise InputError("line 1: the CSV header has no email column")
            continue
        if not text.strip():
            continue
        try:
            row = _parse_csv_line(text, strict=True)
        except csv.Error as exc:
            yield number, {"__error__": f"bad CSV: {exc}"}
            continue
        if row is None or len(row) != len(header):
            yield number, {"__error__": f"expected {len(header)} fields, found {len(row or [])}"}
        else:
            yield number, dict(zip(header, row, strict=True))


def _parse_csv_line(text: str, strict: bool = False) -> list[str] | None:
    return next(csv.reader([text], strict=strict), None)


class SeenEmails:
    """Addresses already read from this file, kept on disk (a temporary SQLite file), so a
    duplicate line is merged into the first whatever the file's size, in bounded memory."""

    def __init__(self) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="digest-import-")
        self._db = sqlite3.connect(Path(self._dir.name) / "seen.db")
        self._db.execute("CREATE TABLE seen (email TEXT PRIMARY KEY)")

    def first_time(self, emails: list[str]) -> set[str]:
        """Of ``emails`` (in file order), the ones seen for the first time in the file."""
        unique = list(dict.fromkeys(emails))
        before: set[str] = set()
        for start in range(0, len(unique), 500):
            chunk = unique[start : start + 500]
            marks = ",".join("?" * len(chunk))
            before.update(r[0] for r in self._db.execute(f"SELECT email FROM seen WHERE email IN ({marks})", chunk))
        self._db.executemany("INSERT OR IGNORE INTO seen VALUES (?)", ((e,) for e in unique))
        return set(unique) - before

    def close(self) -> None:
        self._db.close()
        self._dir.cleanup()


def import_rows(
    engine: Engine,
    rows: Iterable[tuple[int, Mapping[str, Any]]],
    *,
    fresh_consent: bool = False,
    on_batch: Any = None,
) -> ImportReport:
    """Import records in batches; every bad line is reported and the good ones go in.
    Importing the same rows again changes nothing."""
    report = ImportReport()
    batch: list[tuple[int, dict[str, Any]]] = []
    seen = SeenEmails()
    try:
        _import_all(engine, rows, report, batch, seen, fresh_consent, on_batch)
    finally:
        seen.close()
    return report


def _import_all(
    engine: Engine,
    rows: Iterable[tuple[int, Mapping[str, Any]]],
    report: ImportReport,
    batch: list[tuple[int, dict[str, Any]]],
    seen: SeenEmails,
    fresh_consent: bool,
    on_batch: Any,
) -> None:
    for line, raw in rows:
        if "__error__" in raw:
            report.rejected.append({"line": line, "reason": raw["__error__"]})
            continue
        try:
            batch.append((line, clean_record(raw)))
        except SubscriberError as exc:
            report.rejected.append({"line": line, "reason": str(exc)})
        if len(batch) >= BATCH:
            _import_batch(engine, _first_lines(batch, seen, report), report, fresh_consent)
            batch = []
            if on_batch:
                on_batch(line)
    if batch:
        _import_batch(engine, _first_lines(batch, seen, report), report, fresh_consent)


def _first_lines(
    batch: list[tuple[int, dict[str, Any]]], seen: SeenEmails, report: ImportReport
) -> list[tuple[int, dict[str, Any]]]:
    """Drop lines whose address appeared earlier in the file: the first line wins."""
    first = seen.first_time([record["email"] for _, record in batch])
    kept = []
    for line, record in batch:
        if record["email"] in first:
            kept.append((line, record))
            first.discard(record["email"])
        else:
            report.duplicates += 1
    return kept


def import_file(engine: Engine, path: Path, *, fresh_consent: bool = False, on_batch: Any = None) -> ImportReport:
    return import_rows(engine, read_rows(path), fresh_consent=fresh_consent, on_batch=on_batch)


def _import_batch(
    engine: Engine, batch: list[tuple[int, dict[str, Any]]], report: ImportReport, fresh_consent: bool
) -> None:
    for _attempt in range(3):  # another writer may add one of these addresses at the same moment
        local = ImportReport()
        now = utcnow()
        try:
            with session_scope(engine) as session:
                emails = list({record["email"] for _, record in batch})
                found = session.exec(select(Subscriber).where(col(Subscriber.email).in_(emails)))
                existing = {s.email: s for s in found}
                forgotten = _forgotten_among(session, [e for e in emails if e not in existing])
                holders = _public_id_holders(session, batch)
                new_rows: list[dict[str, Any]] = []
                for line, record in batch:
                    clash = _public_id_clash(record, existing.get(record["email"]), holders)
                    if clash:
                        local.rejected.append({"line": line, "reason": clash})
                        continue
                    _import_one(session, new_rows, existing, record, local, fresh_consent, now, forgotten)
                if new_rows:  # one executemany INSERT, not one ORM flush per row
                    session.execute(insert(Subscriber), new_rows)
        except IntegrityError:
            continue
        report.added += local.added
        report.updated += local.updated
        report.unchanged += local.unchanged
        report.kept_suppressed += local.kept_suppressed
        report.rejected.extend(local.rejected)
        return
    raise InputError("the list kept changing during the import; run it again")


NEW_ROW: dict[str, Any] = {
    "name": "",
    "roles": [],
    "locations": [],
    "remote": None,
    "seniority": "",
    "audience": "both",
}


def _public_id_holders(session: Session, batch: list[tuple[int, dict[str, Any]]]) -> dict[str, str]:
    """Who holds the public ids this batch names: {public_id: email}."""
    wanted = [record["public_id"] for _, record in batch if record.get("public_id")]
    if not wanted:
        return {}
    found = session.exec(select(Subscriber.public_id, Subscriber.email).where(col(Subscriber.public_id).in_(wanted)))
    return dict(found.all())


def _public_id_clash(record: dict[str, Any], current: Subscriber | None, holders: dict[str, str]) -> str | None:
    """Why a line's public_id cannot be kept (it belongs to someone else), or None. A line
    that passes claims the id for the rest of the batch."""
    wanted = record.get("public_id")
    if not wanted:
        return None
    if current is not None and current.public_id != wanted:
        return f"public_id {wanted} is not the one {record['email']} has ({current.public_id})"
    holder = holders.setdefault(wanted, record["email"])
    if holder != record["email"]:
        return f"public_id {wanted} belongs to another reader"
    return None


def _forgotten_among(session: Session, emails: list[str]) -> Callable[[str], bool]:
    """One query for the batch: which of these addresses were forgotten (salted hashes)?"""
    salt = _salt(session)
    hashes = {hashlib.sha256(f"{salt}:{e}".encode()).hexdigest(): e for e in emails}
    found = session.exec(select(Suppression.email_hash).where(col(Suppression.email_hash).in_(list(hashes)))).all()
    suppressed = {hashes[h] for h in found}
    return suppressed.__contains__


def _import_one(
    session: Session,
    new_rows: list[dict[str, Any]],
    existing: dict[str, Subscriber],
    record: dict[str, Any],
    report: ImportReport,
    fresh_consent: bool,
    now: datetime,
    forgotten: Callable[[str], bool],
) -> None:
    current = existing.get(record["email"])
    wanted = record.get("status")
    if current is None:
        if forgotten(record["email"]) and not fresh_consent:
            report.kept_suppressed += 1
            return
        row = {**NEW_ROW, "public_id": new_public_id(), **record, "created_at": now, "updated_at": now}
        row["status"] = status.initial(wanted)
        row["segment_key"] = Preferences.from_json(row).key
        new_rows.append(row)
        report.added += 1
        return
    if current.status in SUPPRESSED and not fresh_consent and wanted not in SUPPRESSED:
        report.kept_suppressed += 1
        return
    changed = _apply(current, record, now)
    target = Status(wanted) if wanted else Status.ACTIVE if fresh_consent and current.status in SUPPRESSED else None
    if target is not None:
        changed = status.change(session, current, target, "import", consent=fresh_consent, now=now) or changed
    if changed:
        session.add(current)
        report.updated += 1
    else:
        report.unchanged += 1


def export_rows(engine: Engine, fmt: str = "csv") -> Iterator[str]:
    """CSV (``;`` joins lists) or JSONL lines; import of the output gives the same list back."""
    if fmt == "jsonl":
        for subscriber in iter_subscribers(engine):
            yield json.dumps(as_record(subscriber), ensure_ascii=False) + "\n"
        return
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(FIELDS)
    for subscriber in iter_subscribers(engine):
        record = as_record(subscriber)
        writer.writerow(
            [";".join(v) if isinstance(v, list) else ("" if v is None else str(v).lower() if isinstance(v, bool) else v)
             for v in (record[k] for k in FIELDS)]
        )  # fmt: skip
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    yield buffer.getvalue()


def seed_if_empty(engine: Engine, path: Path) -> int:
    """Import a demo list when there are no subscribers at all (sources.yaml delivery.seed_readers)."""
    with session_scope(engine) as session:
        if session.exec(select(Subscriber.id).limit(1)).first() is not None:
            return 0
    return import_file(engine, path).added
