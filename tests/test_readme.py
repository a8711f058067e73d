"""The README's examples run, and its command list matches the CLI."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from digest.cli import main
from tests.conftest import KEY, ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_the_subscribers_example_runs(tmp_path: Path) -> None:
    block = re.search(r"```python\n(.*?)```", README, re.DOTALL)
    assert block, "the README has a Python example"
    result = subprocess.run(
        [sys.executable, "-c", block.group(1)], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("1 [{'line': 3, 'reason': \"invalid address 'not-an-address'")
    assert lines[1] == "['bo@example.com']"


def test_every_command_is_documented_and_every_documented_command_exists() -> None:
    documented = set(re.findall(r"^\| `digest (\w+)", README, re.MULTILINE))
    assert documented == set(main.commands)


def test_quickstart_is_two_commands() -> None:
    quickstart = README.split("## Quickstart")[1].split("## ")[0]
    commands = re.findall(r"```sh\n(.*?)\n```", quickstart, re.DOTALL)
    assert commands == ["pip install . && digest send", 'pip install -e ".[test]" && python -m pytest']
    assert "python -m pytest" in (ROOT / ".ci" / "run").read_text()


def test_a_week_by_hand_runs_as_written(tmp_path: Path) -> None:
    """Step 3 used to fail: the sample readers only arrived with `send`. Every line runs but
    `digest check` (it asks the system's DNS) and the one that names a real relay."""
    block = README.split("A week by hand:")[1].split("```sh\n")[1].split("\n```")[0]
    lines = [line for line in block.splitlines() if "digest check" not in line and "relay.example.com" not in line]
    assert len(lines) >= 7
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": str(tmp_path),
           "DIGEST_SECRET_KEY": KEY, "DIGEST_BASE_URL": "http://digest.test"}  # fmt: skip
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", "\n".join(lines)], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stderr
    week = tmp_path / "week"
    assert (week / "ada.eml").is_file() and "Issue" in result.stderr
    received = sorted((week / "outbox" / "new").iterdir())
    assert len(received) == 1 and b"Subject: [TEST] " in received[0].read_bytes(), "only the test copy went out"
