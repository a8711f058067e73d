"""Subscribers from scripts: validation, streaming import, round-trip export, remove and forget."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine
from sqlmodel import Session, func, select

from digest import subscribers
from digest.cli import main
from digest.models import Subscriber, Suppression
from digest.subscribers import SubscriberError, export_rows, import_file, normalise_email
from tests.conftest import ROOT


def count(engine: Engine, status: str | None = None) -> int:
    with Session(engine) as session:
        query = select(func.count()).select_from(Subscriber)
        return session.exec(query.where(Subscriber.status == status) if status else query).one()


def test_addresses_are_validated_and_normalised() -> None:
    assert normalise_email("  Ada.Lovelace@Example.COM ") == "ada.lovelace@example.com"
    assert normalise_email("josé@Bücher.example") == "josé@xn--bcher-kva.example"
    for bad in ("no-at-sign", "a@b@c.com", "ada@example.com\r\nBcc: x@y.z", "ada\0@example.com", ""):
        with pytest.raises(SubscriberError):
            normalise_email(bad)


def make_csv(path: Path) -> tuple[int, list[int]]:
    """5,000 data lines: 50 bad, 50 case-variant duplicates of earlier lines."""
    lines, bad_lines = ["email,name,roles,locations,remote,seniority,audience"], []
    for n in range(5000):
        line_number = n + 2
        if n % 100 == 7:
            lines.append(f"broken{n}.example.com,No At,,,,,")  # no @
            bad_lines.append(line_number)
        elif n % 100 == 55:
            lines.append(f"READER{n - 10}@EXAMPLE.COM,Shouting,,,,,")  # same person as an earlier line
        else:
            lines.append(f"reader{n}@example.com,Reader {n},product manager;payments,London,true,senior,both")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return 4900, bad_lines


def test_import_5000_lines_with_bad_lines_and_case_duplicates(engine: Engine, tmp_path: Path) -> None:
    expected, bad_lines = make_csv(tmp_path / "list.csv")
    started = time.monotonic()
    report = import_file(engine, tmp_path / "list.csv")
    elapsed = time.monotonic() - started
    assert report.added == expected and count(engine) == 4900
    assert [r["line"] for r in report.rejected] == bad_lines
    assert all("@-sign" in r["reason"] for r in report.rejected)
    assert elapsed < 30
    again = import_file(engine, tmp_path / "list.csv")
    assert (again.added, again.updated) == (0, 0) and count(engine) == 4900


def test_export_then_import_into_an_empty_database_gives_the_same_list(engine: Engine, tmp_path: Path) -> None:
    from digest.db import open_database

    make_csv(tmp_path / "list.csv")
    import_file(engine, tmp_path / "list.csv")
    subscribers.remove(engine, "reader3@example.com")
    subscribers.add(engine, "zoé@example.com", 'Zoé, "the" PM', {"roles": "growth;design", "audience": "people",
                                                                  "paused_until": "2027-01-04T09:00:00+00:00"})  # fmt: skip
    for fmt in ("csv", "jsonl"):
        exported = tmp_path / f"out.{fmt}"
        exported.write_text("".join(export_rows(engine, fmt)), encoding="utf-8")
        assert "2027-01-04T09:00:00+00:00" in exported.read_text(encoding="utf-8"), "a pause moves with the list"
        other = open_database(f"sqlite:///{tmp_path / f'other-{fmt}.db'}")
        assert import_file(other, exported).rejected == []
        assert "".join(export_rows(other, fmt)) == exported.read_text(encoding="utf-8")
        assert count(other, "unsubscribed") == 1
        other.dispose()


def test_public_ids_are_kept_made_when_missing_and_a_clash_is_a_rejected_line(engine: Engine, tmp_path: Path) -> None:
    kept, taken = "a" * 32, "b" * 32
    subscribers.add(engine, "holder@example.com")
    holder = subscribers.get(engine, "holder@example.com")
    assert holder is not None and re.fullmatch(r"[0-9a-f]{32}", holder.public_id)
    lines = [
        "email,name,public_id",
        f"kept@example.com,Kept,{kept.upper()}",  # 2: kept (case does not matter)
        "made@example.com,Made,",  # 3: made
        f"twin@example.com,Twin,{kept}",  # 4: the id line 2 took
        f"thief@example.com,Thief,{holder.public_id}",  # 5: an existing reader's id
        f"holder@example.com,Holder,{taken}",  # 6: not the id the holder has
        "bad@example.com,Bad,not-hex",  # 7: not a public id
    ]
    (tmp_path / "ids.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = import_file(engine, tmp_path / "ids.csv")
    assert [r["line"] for r in report.rejected] == [7, 4, 5, 6], report.rejected
    assert "belongs to another reader" in report.rejected[1]["reason"]
    assert report.added == 2
    kept_reader, made = subscribers.get(engine, "kept@example.com"), subscribers.get(engine, "made@example.com")
    assert kept_reader is not None and kept_reader.public_id == kept
    assert made is not None and re.fullmatch(r"[0-9a-f]{32}", made.public_id) and made.public_id != kept
    assert subscribers.get(engine, "twin@example.com") is None and subscribers.get(engine, "thief@example.com") is None
    again = subscribers.get(engine, "holder@example.com")
    assert again is not None and again.public_id == holder.public_id


def test_unsubscribed_are_not_reactivated_without_fresh_consent(engine: Engine, tmp_path: Path) -> None:
    subscribers.add(engine, "ada@example.com")
    subscribers.remove(engine, "ada@example.com")
    (tmp_path / "l.jsonl").write_text('{"email": "ADA@example.com", "name": "Ada"}\n{"email": "bo@example.com"}\n')
    report = import_file(engine, tmp_path / "l.jsonl")
    assert (report.added, report.kept_suppressed) == (1, 1) and count(engine, "unsubscribed") == 1
    assert import_file(engine, tmp_path / "l.jsonl", fresh_consent=True).updated == 1
    assert count(engine, "unsubscribed") == 0


def test_line_numbers_are_physical_and_bad_values_are_reported(engine: Engine, tmp_path: Path) -> None:
    (tmp_path / "l.csv").write_text(
        'email,name,remote,audience\n'
        'a@example.com,"Ann\nSecond line",true,both\n'  # lines 2-3: a line break inside a field
        'b@example.com,Bo,maybe,both\n'  # line 4
        '\n'  # line 5: blank
        'c@example.com,Cy,false,everyone\n'  # line 6
        'd@example.com,Di,false,jobs\n'  # line 7
        'e@example.com,Ed\n'  # line 8: too few fields
    )  # fmt: skip
    report = import_file(engine, tmp_path / "l.csv")
    assert report.added == 1
    assert [(r["line"], r["reason"].split(":")[0]) for r in report.rejected] == [
        (2, "bad CSV"), (3, "expected 4 fields, found 3"), (4, "remote"), (6, "audience"),
        (8, "expected 4 fields, found 2")]  # fmt: skip
    (tmp_path / "levels.csv").write_text("email,seniority\nf@example.com,Sr.\ng@example.com,godlike\n")
    levels = import_file(engine, tmp_path / "levels.csv")
    assert levels.added == 1 and [r["line"] for r in levels.rejected] == [3]
    assert levels.rejected[0]["reason"].startswith("seniority: 'godlike' is not a level; use one of junior, mid")


def test_remove_keeps_suppressed_and_forget_keeps_only_a_hash(engine: Engine, tmp_path: Path) -> None:
    subscribers.add(engine, "ada@example.com", "Ada", {"roles": "tpm"})
    subscribers.add(engine, "bo@example.com", "Bo")
    subscribers.remove(engine, "ada@example.com")
    assert subscribers.forget(engine, "BO@example.com")
    with Session(engine) as session:
        remaining = session.exec(select(Subscriber.email)).all()
        hashes = session.exec(select(Suppression.email_hash)).all()
    assert remaining == ["ada@example.com"] and len(hashes) == 1 and "bo" not in hashes[0]
    (tmp_path / "l.csv").write_text("email\nbo@example.com\nada@example.com\n")
    report = import_file(engine, tmp_path / "l.csv")
    assert report.added == 0 and report.kept_suppressed == 2
    with pytest.raises(SubscriberError, match="asked to be forgotten"):
        subscribers.add(engine, "bo@example.com")


def run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "digest", *args], env={**env, "PATH": "/usr/bin:/bin"}, cwd=cwd,
                          capture_output=True, text=True, timeout=120)  # fmt: skip


def test_cli_add_list_show_set_remove(tmp_path: Path, env: dict[str, str]) -> None:
    shutil.copy(ROOT / "sources.yaml", tmp_path)
    shutil.copytree(ROOT / "samples", tmp_path / "samples")
    added = run(["subscribers", "add", "Ada@Example.com", "--name", "Ada", "--pref", "roles=tpm;payments",
                 "--pref", "remote=true", "--json"], env, tmp_path)  # fmt: skip
    assert added.returncode == 0 and json.loads(added.stdout)["roles"] == ["tpm", "payments"]
    bad = run(["subscribers", "add", "not-an-address"], env, tmp_path)
    assert bad.returncode == 1 and bad.stderr.strip().startswith("Error: invalid address 'not-an-address'")
    assert len(bad.stderr.strip().splitlines()) == 1
    bad_pref = run(["subscribers", "add", "x@example.com", "--pref", "colour=red"], env, tmp_path)
    assert bad_pref.returncode == 1 and bad_pref.stderr.startswith("Error: --pref 'colour=red'")
    assert run(["subscribers", "set", "ada@example.com", "--pref", "audience=people"], env, tmp_path).returncode == 0
    listed = json.loads(run(["subscribers", "list", "--json"], env, tmp_path).stdout)
    public_id = listed["subscribers"][0].pop("public_id")
    assert re.fullmatch(r"[0-9a-f]{32}", public_id), "a random public id, never the row id"
    assert listed == {"subscribers": [{"email": "ada@example.com", "name": "Ada", "status": "active", "roles": ["tpm", "payments"],
                                       "locations": [], "remote": True, "seniority": "", "audience": "people",
                                       "paused_until": None}]}  # fmt: skip
    assert run(["send"], env, tmp_path).returncode == 0
    shown = json.loads(run(["subscribers", "show", "ada@example.com", "--json"], env, tmp_path).stdout)
    assert [d["status"] for d in shown["deliveries"]] == ["sent"], shown["deliveries"]
    assert shown["read_as"] == {"roles": ["technical product manager"], "topics": ["payments"]}
    text = run(["subscribers", "show", "ada@example.com"], env, tmp_path).stdout
    assert "   read as: roles: technical product manager; topics: payments" in text
    godlike = run(["subscribers", "set", "ada@example.com", "--pref", "seniority=godlike"], env, tmp_path)
    assert godlike.returncode == 1 and godlike.stderr.strip() == (
        "Error: seniority: 'godlike' is not a level; use one of junior, mid, senior, staff, principal, director "
        "(or L4-L7, IC4-IC7), or leave it empty"
    )
    assert run(["subscribers", "set", "ada@example.com", "--pref", "seniority=L5"], env, tmp_path).returncode == 0
    assert (
        json.loads(run(["subscribers", "show", "ada@example.com", "--json"], env, tmp_path).stdout)["seniority"]
        == "senior"
    ), "a ladder's level is stored as the level it names"
    assert run(["subscribers", "remove", "ada@example.com"], env, tmp_path).returncode == 0
    assert (
        json.loads(run(["subscribers", "list", "--status", "unsubscribed", "--json"], env, tmp_path).stdout)[
            "subscribers"
        ][0]["email"]
        == "ada@example.com"
    )


def test_cli_import_reports_lines_and_exit_code(
    tmp_path: Path, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    shutil.copy(ROOT / "sources.yaml", tmp_path)
    make_csv(tmp_path / "list.csv")
    result = CliRunner().invoke(main, ["--sources", str(tmp_path / "sources.yaml"), "subscribers", "import",
                                       str(tmp_path / "list.csv"), "--json"])  # fmt: skip
    assert result.exit_code == 4
    data = json.loads(result.stdout)
    assert data["added"] == 4900 and len(data["rejected"]) == 50 and data["rejected"][0] == {
        "line": 9, "reason": data["rejected"][0]["reason"]}  # fmt: skip


def test_cli_set_changes_a_name_as_its_help_says(tmp_path: Path, env: dict[str, str]) -> None:
    shutil.copy(ROOT / "sources.yaml", tmp_path)
    shutil.copytree(ROOT / "samples", tmp_path / "samples")
    assert run(["subscribers", "add", "ada@example.com", "--name", "Ada"], env, tmp_path).returncode == 0
    renamed = run(["subscribers", "set", "ada@example.com", "--name", "Ada Lovelace", "--pref", "remote=true"],
                  env, tmp_path)  # fmt: skip
    assert renamed.returncode == 0, renamed.stderr
    shown = json.loads(run(["subscribers", "show", "ada@example.com", "--json"], env, tmp_path).stdout)
    assert (shown["name"], shown["remote"]) == ("Ada Lovelace", True)
    nothing = run(["subscribers", "set", "ada@example.com"], env, tmp_path)
    assert nothing.returncode == 2 and "give --name, --pref KEY=VALUE, or both" in nothing.stderr
