"""The wall clock shifted, for every Python process started with this folder on PYTHONPATH.

CI runs the date-sensitive tests a second time with ``DIGEST_CLOCK_SHIFT_DAYS=365`` and
``PYTHONPATH=tests/clockshift``: Python imports this module at start-up, in pytest and in
every ``digest`` subprocess a test starts, and time-machine moves ``time.time`` and
``datetime.now`` (not ``time.monotonic``: sleeps and timed waits are left alone) that many
days ahead while the clock keeps ticking. OpenSSL, SQLite, PostgreSQL and the servers the
tests start keep real time."""

from __future__ import annotations

import os

_days = os.environ.get("DIGEST_CLOCK_SHIFT_DAYS")
if _days:
    from datetime import UTC, datetime, timedelta

    import time_machine

    _travel = time_machine.travel(datetime.now(UTC) + timedelta(days=float(_days)), tick=True)
    _travel.start()
