"""Subscribers: the public library that the CLI and operators' scripts call.

    from digest.subscribers import add, import_file, remove, forget, update_preferences, iter_subscribers

Addresses are validated (syntax only, no DNS) and normalised: the domain in IDNA and the
whole address in lower case, so two addresses that differ only in case are one person.
An unsubscribed, bounced or complained address is never re-activated by an import unless
the operator says they have fresh consent; a forgotten address stays suppressed as a
salted hash."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import secrets
import sqlite3
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import Engine, delete, insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from digest.db import session_scope
from digest.errors import InputError
from digest.models import Delivery, Event, Setting, Subscriber, Suppression
from digest.preferences import AUDIENCES, Preferences
from digest.timeutil import utcnow

STATUSES = ("pending", "active", "unsubscribed", "bounced", "complained")
SUPPRESSED = ("unsubscribed", "bounced", "complained")
FIELDS = ("email", "name", "roles", "locations", "remote", "seniority", "audience", "status")
PREFERENCE_KEYS = ("name", "roles", "locations", "remote", "seniority", "audience")
BATCH = 1000
_BAD_CHARS = ("\r", "\n", "\0")


class SubscriberError(InputError):
    """A bad address or value; ``line`` is the physical line of the input file, when there is one."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


def normalise_email(raw: str) -> str:
    """Validated and normalised; SubscriberError says why an address is refused."""
    if any(c in raw for c in _BAD_CHARS):
        raise SubscriberError("address contains a line break or NUL")
    text = raw.strip()
    if not text:
        raise SubscriberError("address is empty")
    try:
        valid = validate_email(text, check_deliverability=False)
    except EmailNotValidError as exc:
        raise SubscriberError(f"invalid address {text!r}: {exc}") from None
    domain = valid.ascii_domain or valid.domain
    return f"{valid.local_part}@{domain}".lower()


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


def clean_record(record: Mapping[str, Any]) -> dict[str, Any]:
    """Validate one record's fields (CSV row, JSONL object or --pref values)."""
    unknown = set(record) - set(FIELDS)
    if unknown:
        raise SubscriberError(f"unknown field {sorted(unknown)[0]!r} (known: {', '.join(FIELDS)})")
    for key, value in record.items():
        if any(c in str(value) for c in _BAD_CHARS):
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
        out["seniority"] = " ".join(str(record["seniority"] or "").lower().split())[:60]
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
    cleaned = clean_record({"email": "x@example.com", **record})
    cleaned.pop("email")
    return cleaned


# ---- hashing for forgotten addresses -------------------------------------------------------


def _salt(session: Session) -> str:
    found = session.get(Setting, "suppression_salt")
    if found is None:
        found = Setting(key="suppression_salt", value=secrets.token_hex(16))
        session.add(found)
        session.flush()
    return found.value


def email_hash(session: Session, email: str) -> str:
    return hashlib.sha256(f"{_salt(session)}:{email}".encode()).hexdigest()


def is_forgotten(session: Session, email: str) -> bool:
    return session.get(Suppression, email_hash(session, email)) is not None


# ---- one address ---------------------------------------------------------------------------


def get(engine: Engine, email: str) -> Subscriber | None:
    address = normalise_email(email)
    with session_scope(engine) as session:
        return session.exec(select(Subscriber).where(Subscriber.email == address)).first()


def add(
    engine: Engine,
    email: str,
    name: str = "",
    prefs: Mapping[str, Any] | None = None,
    *,
    pending: bool = False,
    fresh_consent: bool = False,
) -> tuple[Subscriber, bool]:
    """Add a reader, or update an existing one's name and preferences; returns (subscriber, created).

    A suppressed address is refused unless ``fresh_consent`` (the person asked again)."""
    record = clean_record({"email": email, "name": name, **(prefs or {})})
    now = utcnow()
    with session_scope(engine) as session:
        existing = session.exec(select(Subscriber).where(Subscriber.email == record["email"])).first()
        if existing is None:
            if is_forgotten(session, record["email"]) and not fresh_consent:
                raise SubscriberError(f"{record['email']} asked to be forgotten; add it only with fresh consent")
            subscriber = Subscriber(**record, created_at=now, updated_at=now)
            subscriber.status = "pending" if pending else "active"
            session.add(subscriber)
            session.flush()
            return subscriber, True
        if existing.status in SUPPRESSED and not fresh_consent:
            raise SubscriberError(f"{existing.email} is {existing.status}; add it again only with fresh consent")
        _apply(existing, record, now)
        if existing.status in SUPPRESSED:
            existing.status = "pending" if pending else "active"
            session.add(Event(subscriber_id=existing.id, kind="resubscribed", method="operator", created_at=now))
        session.add(existing)
        return existing, False


def _apply(subscriber: Subscriber, record: Mapping[str, Any], now: datetime) -> bool:
    changed = False
    for key, value in record.items():
        if key in ("email", "status"):
            continue
        if getattr(subscriber, key) != value:
            setattr(subscriber, key, value)
            changed = True
    if changed:
        subscriber.updated_at = now
    return changed


def update_preferences(engine: Engine, email: str, prefs: Mapping[str, Any]) -> Subscriber:
    record = clean_record({"email": email, **prefs})
    with session_scope(engine) as session:
        subscriber = session.exec(select(Subscriber).where(Subscriber.email == record["email"])).first()
        if subscriber is None:
            raise SubscriberError(f"no subscriber {record['email']}")
        record.pop("status", None)
        _apply(subscriber, record, utcnow())
        session.add(subscriber)
        return subscriber


def remove(engine: Engine, email: str, *, method: str = "operator") -> Subscriber:
    """Unsubscribe: the address stays on the suppression list, so no import brings it back."""
    address = normalise_email(email)
    now = utcnow()
    with session_scope(engine) as session:
        subscriber = session.exec(select(Subscriber).where(Subscriber.email == address)).first()
        if subscriber is None:
            raise SubscriberError(f"no subscriber {address}")
        if subscriber.status not in SUPPRESSED:
            subscriber.status, subscriber.updated_at = "unsubscribed", now
            session.add(Event(subscriber_id=subscriber.id, kind="unsubscribed", method=method, created_at=now))
        session.add(subscriber)
        return subscriber


def forget(engine: Engine, email: str) -> bool:
    """Erase the person's data (subscriber row, deliveries, events); keep only a salted hash of
    the address so it is never mailed again. Returns whether anything was stored."""
    address = normalise_email(email)
    with session_scope(engine) as session:
        subscriber = session.exec(select(Subscriber).where(Subscriber.email == address)).first()
        digest = email_hash(session, address)
        if session.get(Suppression, digest) is None:
            session.add(Suppression(email_hash=digest, reason="forgotten", created_at=utcnow()))
        if subscriber is None:
            return False
        session.execute(delete(Delivery).where(col(Delivery.subscriber_id) == subscriber.id))
        session.execute(delete(Event).where(col(Event.subscriber_id) == subscriber.id))
        session.delete(subscriber)
        return True


def iter_subscribers(engine: Engine, status: str | None = None, batch: int = BATCH) -> Iterator[Subscriber]:
    """Every subscriber in id order, streamed in batches (bounded memory)."""
    if status is not None and status not in STATUSES:
        raise SubscriberError(f"--status: expected one of {', '.join(STATUSES)}")
    last = 0
    while True:
        with session_scope(engine) as session:
            query = select(Subscriber).where(col(Subscriber.id) > last)
            if status:
                query = query.where(Subscriber.status == status)
            rows = session.exec(query.order_by(col(Subscriber.id)).limit(batch)).all()
        if not rows:
            return
        yield from rows
        last = rows[-1].id or last


def as_record(subscriber: Subscriber) -> dict[str, Any]:
    return {
        "email": subscriber.email, "name": subscriber.name, "status": subscriber.status,
        "roles": subscriber.roles, "locations": subscriber.locations, "remote": subscriber.remote,
        "seniority": subscriber.seniority, "audience": subscriber.audience,
    }  # fmt: skip


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
                new_rows: list[dict[str, Any]] = []
                for _line, record in batch:
                    _import_one(session, new_rows, existing, record, local, fresh_consent, now, forgotten)
                if new_rows:  # one executemany INSERT, not one ORM flush per row
                    session.execute(insert(Subscriber), new_rows)
        except IntegrityError:
            continue
        report.added += local.added
        report.updated += local.updated
        report.unchanged += local.unchanged
        report.kept_suppressed += local.kept_suppressed
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
    status = record.get("status")
    if current is None:
        if forgotten(record["email"]) and not fresh_consent:
            report.kept_suppressed += 1
            return
        row = {**NEW_ROW, **record, "status": status or "active", "created_at": now, "updated_at": now}
        row["segment_key"] = Preferences.from_json(row).key
        new_rows.append(row)
        report.added += 1
        return
    if current.status in SUPPRESSED and not fresh_consent and status not in SUPPRESSED:
        report.kept_suppressed += 1
        return
    changed = _apply(current, record, now)
    if status and status != current.status:
        current.status, changed = status, True
    elif fresh_consent and current.status in SUPPRESSED and not status:
        current.status, changed = "active", True
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


@dataclass
class History:
    subscriber: Subscriber
    deliveries: list[dict[str, Any]]
    events: list[dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        return {**as_record(self.subscriber), "created_at": self.subscriber.created_at.isoformat(),
                "deliveries": self.deliveries, "events": self.events}  # fmt: skip


def history(engine: Engine, email: str) -> History:
    """One reader with every issue they were sent (and what happened) and every status change."""
    from digest.models import Issue

    address = normalise_email(email)
    with session_scope(engine) as session:
        subscriber = session.exec(select(Subscriber).where(Subscriber.email == address)).first()
        if subscriber is None:
            raise SubscriberError(f"no subscriber {address}")
        rows = session.exec(
            select(Issue.week, Delivery).join(Delivery).where(Delivery.subscriber_id == subscriber.id)
            .order_by(col(Issue.week))
        ).all()  # fmt: skip
        deliveries = [
            {"week": week, "status": d.status, "attempts": d.attempts, "reply": d.reply,
             "sent_at": d.sent_at.isoformat() if d.sent_at else None}
            for week, d in rows
        ]  # fmt: skip
        events = [
            {"kind": e.kind, "method": e.method, "issue_id": e.issue_id, "at": e.created_at.isoformat()}
            for e in session.exec(select(Event).where(Event.subscriber_id == subscriber.id).order_by(col(Event.id)))
        ]
        return History(subscriber, deliveries, events)
