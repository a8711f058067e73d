"""The command line: help everywhere, one-line errors, JSON on stdout, the real database after."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from sqlmodel import Session, func, select

from digest.cli import main
from digest.db import open_database
from digest.models import Job, Profile
from tests.conftest import ROOT

pytestmark = pytest.mark.dates


def all_commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [prefix]
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            found += all_commands(command, (*prefix, name))
        else:
            found.append((*prefix, name))
    return found


@pytest.mark.parametrize("command", all_commands(main), ids=lambda c: " ".join(c) or "digest")
def test_every_command_has_help(command: tuple[str, ...]) -> None:
    result = CliRunner().invoke(main, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output and len(result.output.splitlines()) > 4


@pytest.fixture
def workdir(tmp_path: Path, env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(ROOT / "samples", tmp_path / "samples")
    shutil.copy(ROOT / "sources.yaml", tmp_path / "sources.yaml")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_ingest_json_has_the_contract_shape_and_fills_the_database(workdir: Path, db_url: str) -> None:
    result = CliRunner().invoke(main, ["ingest", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data) >= {"sources", "new", "errors"} and data["errors"] == 0
    for source in data["sources"]:
        assert set(source) >= {"name", "kind", "seen", "new", "updated", "error"}
    engine = open_database(db_url)
    with Session(engine) as session:
        jobs = session.exec(select(func.count()).select_from(Job)).one()
        profiles = session.exec(select(func.count()).select_from(Profile)).one()
    engine.dispose()
    assert data["new"] == jobs + profiles == 16 + 8
    again = json.loads(CliRunner().invoke(main, ["ingest", "--json"]).stdout)
    assert again["new"] == 0


def test_ingest_one_source(workdir: Path) -> None:
    result = CliRunner().invoke(main, ["ingest", "--source", "sample-greenhouse", "--json"])
    data = json.loads(result.stdout)
    assert [s["name"] for s in data["sources"]] == ["sample-greenhouse"] and data["new"] == 3
    result = CliRunner().invoke(main, ["ingest", "--source", "nope"])
    assert result.exit_code != 0 and "Error: no source named 'nope'" in result.stderr


def run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "digest", *args], env={**env, "PATH": "/usr/bin:/bin"}, cwd=cwd,
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_bad_sources_yaml_is_one_error_line(tmp_path: Path, env: dict[str, str]) -> None:
    (tmp_path / "sources.yaml").write_text("sources:\n  - {name: a, url: 'ftp://nope'}\n")
    result = run(["ingest"], env, tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == "Error: sources.yaml: sources[0].url: not a URL or file path"


def test_unreachable_database_is_one_error_line(tmp_path: Path, env: dict[str, str]) -> None:
    shutil.copy(ROOT / "sources.yaml", tmp_path / "sources.yaml")
    env = {**env, "DIGEST_DATABASE_URL": "postgresql+psycopg://nobody:secret@127.0.0.1:1/none"}
    result = run(["ingest"], env, tmp_path)
    assert result.returncode == 3
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: cannot connect to postgresql+psycopg://nobody:***@")
    assert "secret" not in result.stderr


def test_init_creates_then_reports_up_to_date(tmp_path: Path, env: dict[str, str]) -> None:
    env = {**env, "DIGEST_DATABASE_URL": f"sqlite:///{tmp_path / 'fresh.db'}"}
    first = run(["init"], env, tmp_path)
    assert first.returncode == 0 and "schema empty ->" in first.stderr
    second = run(["init"], env, tmp_path)
    assert second.returncode == 0 and "up to date" in second.stderr


def test_build_explain_and_preview_eml(workdir: Path) -> None:
    import email
    import email.policy

    runner = CliRunner()
    assert runner.invoke(main, ["ingest"]).exit_code == 0
    built = runner.invoke(main, ["build", "--explain", "--json"])
    assert built.exit_code == 0 and json.loads(built.stdout)["jobs"] == 16
    assert "Segment 1" in built.stderr and "[score" in built.stderr
    result = runner.invoke(main, ["preview", "--format", "eml", "-o", "out.eml"])
    assert result.exit_code == 0, result.output
    message = email.message_from_bytes((workdir / "out.eml").read_bytes(), policy=email.policy.default)
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    assert message["List-Unsubscribe"].startswith("<http://digest.test/u/")
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert len(html.encode()) < 100_000 and 'style="' in html
    text = runner.invoke(main, ["preview", "--format", "text"])
    assert "TOP JOBS THIS WEEK" in text.stdout
    bad = runner.invoke(main, ["build", "--week", "2026-W60"])
    assert bad.exit_code == 1 and "Error: --week: 2026 has no week 60" in bad.stderr


def test_a_bad_cron_line_stops_every_command_naming_the_file_used(tmp_path: Path, env: dict[str, str]) -> None:
    """Only `schedule` used to read the cron line: ingest, send and a dry run went ahead."""
    shutil.copytree(ROOT / "samples", tmp_path / "samples")
    text = (ROOT / "sources.yaml").read_text().replace('schedule: "0 9 * * mon"', 'schedule: "0 25 * * mon"')
    assert "0 25 * * mon" in text
    (tmp_path / "weekly.yaml").write_text(text)
    for command in (["ingest"], ["send", "--dry-run"], ["send"], ["schedule", "--show"]):
        result = run(["--sources", "weekly.yaml", *command], env, tmp_path)
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 2 and len(lines) == 1, (command, result.stderr)
        assert lines[0].startswith("Error: weekly.yaml: newsletter.schedule: '0 25 * * mon': "), lines[0]
    assert not list(tmp_path.glob("outbox/new/*")), "nothing was sent"


def test_tables_and_explanations_go_to_stdout_and_are_not_wrapped(workdir: Path) -> None:
    """`digest stats > f` and `digest build --explain | less` get the main output; with --json
    stdout holds only the JSON (the explanation goes to stderr then)."""
    runner = CliRunner()
    ingested = runner.invoke(main, ["ingest"])
    assert ingested.exit_code == 0 and "sample-product-rss" in ingested.stdout
    built = runner.invoke(main, ["build", "--explain"])
    assert built.exit_code == 0 and "Segment 1" in built.stdout and "Segment 1" not in built.stderr
    picks = [line for line in built.stdout.splitlines() if "[score" in line]
    assert picks and max(len(line) for line in picks) > 80, "long lines stay whole"
    assert all(line.endswith("]") for line in picks), "each pick is one line"
    stats = runner.invoke(main, ["stats"])
    assert stats.exit_code == 0 and "week" in stats.stdout and re.search(r"\d{4}-W\d{2}", stats.stdout)
    as_json = runner.invoke(main, ["stats", "--json"])
    assert json.loads(as_json.stdout)["issues"] and "week" in as_json.stderr


def test_a_repeat_send_says_who_has_it_and_an_empty_list_warns(tmp_path: Path, env: dict[str, str]) -> None:
    """A second `send` of the week said "0 sent"; an empty list said the same, silently."""
    shutil.copytree(ROOT / "samples", tmp_path / "samples")
    shutil.copy(ROOT / "sources.yaml", tmp_path / "sources.yaml")
    first = run(["send"], env, tmp_path)
    assert first.returncode == 0 and "4 sent" in first.stderr, first.stderr
    again = run(["send"], env, tmp_path)
    assert again.returncode == 0 and "already went to 4 reader(s); nothing left to send" in again.stderr
    assert "Warning" not in first.stderr + again.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    text = (ROOT / "sources.yaml").read_text()
    (empty / "sources.yaml").write_text("\n".join(line for line in text.splitlines() if "seed_readers" not in line))
    shutil.copytree(ROOT / "samples", empty / "samples")
    alone = run(
        ["send"],
        {**env, "DIGEST_DATABASE_URL": f"sqlite:///{empty / 'd.db'}", "DIGEST_SOURCES": str(empty / "sources.yaml")},
        empty,
    )
    assert alone.returncode == 0 and "Warning: the list has no active readers" in alone.stderr, alone.stderr
