"""A claim reads the ledger's (issue, status, segment, id) index in order and stops at its
batch, however long the list: the plans SQLite and PostgreSQL choose for it. (A claim that
sorted every row of the issue made a 1,000,000-reader send three times slower.)"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, event, text

from digest.build.issue import build_issue
from digest.config import Config
from digest.deliver import ledger
from digest.deliver.ledger.rows import ANALYZE_AFTER
from tests.helpers import ingest_samples
from tests.test_send_crash import many_readers

pytestmark = [pytest.mark.dates]


def claim_statements(engine: Engine, issue_id: int) -> list[tuple[str, Any]]:
    """The UPDATE statements (and their parameters) a claim runs."""
    seen: list[tuple[str, Any]] = []

    def note(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE DELIVERY SET CLAIMED_BY"):
            seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", note)
    try:
        assert ledger.claim(engine, issue_id, "planner:1:x", 100, 60), "there are rows to claim"
    finally:
        event.remove(engine, "before_cursor_execute", note)
    return seen


def test_a_claim_walks_the_index_in_order(engine: Engine, sample_config: Config) -> None:
    ingest_samples(engine, sample_config)
    issue = build_issue(engine, sample_config)
    many_readers(engine, ANALYZE_AFTER)
    with engine.connect() as conn:
        issue_id = conn.execute(text("SELECT id FROM issue WHERE week = :w"), {"w": issue.week}).scalar_one()
    ledger.enqueue(engine, issue_id)
    pending = ledger.pending(engine, issue_id)
    assert pending >= ANALYZE_AFTER
    ledger.refresh_statistics(engine, pending)  # what digest send does before its senders claim
    statements = claim_statements(engine, issue_id)
    assert len(statements) == 2, "due retries, then queued rows"
    with engine.connect() as conn:
        for statement, parameters in statements:
            if engine.dialect.name == "sqlite":
                plan = " / ".join(row[3] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters))
                assert "ix_delivery_issue_segment" in plan and "TEMP B-TREE" not in plan, plan
            else:
                plan = " / ".join(row[0] for row in conn.exec_driver_sql("EXPLAIN " + statement, parameters))
                assert "Index Scan using ix_delivery_issue_segment" in plan and "Sort Key" not in plan, plan
        if engine.dialect.name == "postgresql":  # the statistics were refreshed after the enqueue
            rows = conn.exec_driver_sql("SELECT reltuples FROM pg_class WHERE relname = 'delivery'").scalar_one()
            assert rows >= 0.9 * ANALYZE_AFTER
