"""The date pass is real: with DIGEST_CLOCK_SHIFT_DAYS set (CI's second pass), pytest and every
``digest`` subprocess read a wall clock that many days ahead, while sleeps keep real time.

The kernel's clock is read from a file's modification time, which time-machine cannot move."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime

import pytest

pytestmark = pytest.mark.dates
SHIFT = os.environ.get("DIGEST_CLOCK_SHIFT_DAYS")


def kernel_time() -> float:
    with tempfile.NamedTemporaryFile() as probe:
        return os.stat(probe.name).st_mtime


@pytest.mark.skipif(not SHIFT, reason="only in the shifted pass (DIGEST_CLOCK_SHIFT_DAYS)")
def test_the_wall_clock_is_shifted_here_and_in_subprocesses() -> None:
    wanted = float(SHIFT or 0) * 86400
    assert abs(time.time() - kernel_time() - wanted) < 60
    child = subprocess.run(
        [sys.executable, "-c", "import time, datetime; print(time.time(), datetime.datetime.now(datetime.UTC).year)"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    seconds, year = child.stdout.split()
    assert abs(float(seconds) - kernel_time() - wanted) < 60, "the digest subprocesses a test starts are shifted too"
    assert int(year) == datetime.now(UTC).year
    started = time.monotonic()
    time.sleep(0.05)
    assert 0.04 < time.monotonic() - started < 5, "sleeps keep real time"
