"""For ``bench_send.py --compare-synchronous`` only: run `digest send` with SQLite's
``synchronous`` set to $DIGEST_BENCH_SYNCHRONOUS (NORMAL: what digest used before its ledger
commits were made durable), so the cost of durable commits is measured in the same run."""

from __future__ import annotations

import os

_mode = os.environ.get("DIGEST_BENCH_SYNCHRONOUS")
if _mode in ("OFF", "NORMAL", "FULL", "EXTRA"):
    from typing import Any

    import digest.db

    _durable = digest.db._sqlite_pragmas

    def _pragmas(busy_ms: int, dbapi_connection: Any, record: Any) -> None:
        _durable(busy_ms, dbapi_connection, record)
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA synchronous={_mode}")
        cursor.close()

    digest.db._sqlite_pragmas = _pragmas  # type: ignore[assignment]
