"""The README's examples run, and its command list matches the CLI."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from digest.cli import main
from tests.conftest import ROOT

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
