"""A reader's status has one owner: every transition from every status, each recorded, and
nothing else in digest writes the column."""

from __future__ import annotations

import ast
import itertools
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from digest import status
from digest.models import Event, Subscriber
from digest.status import Status
from tests.conftest import ROOT
from tests.helpers import add_reader

P, A, U, B, C = Status.PENDING, Status.ACTIVE, Status.UNSUBSCRIBED, Status.BOUNCED, Status.COMPLAINED
ALLOWED_WITHOUT_CONSENT = {(P, A), (P, U), (P, B), (P, C), (A, U), (A, B), (A, C), (U, B), (U, C), (B, C)}
ONLY_WITH_CONSENT = {(U, P), (U, A), (B, P), (B, A), (C, P), (C, A)}  # fresh consent: back from suppression
KIND = {(P, A): "confirmed", (U, P): "resubscribed", (U, A): "resubscribed", (B, P): "resubscribed",
        (B, A): "resubscribed", (C, P): "resubscribed", (C, A): "resubscribed"}  # fmt: skip


@pytest.mark.parametrize(("current", "wanted", "consent"), list(itertools.product(Status, Status, (False, True))))
def test_every_transition_from_every_status(engine: Engine, current: Status, wanted: Status, consent: bool) -> None:
    reader = add_reader(engine, "r@example.com", status=current.value)
    expected = (current, wanted) in ALLOWED_WITHOUT_CONSENT or (consent and (current, wanted) in ONLY_WITH_CONSENT)
    assert status.allowed(current, wanted, consent=consent) is expected
    with Session(engine) as session:
        subscriber = session.get(Subscriber, reader.id)
        assert subscriber is not None
        changed = status.change(session, subscriber, wanted, "test", consent=consent, issue_id=None, detail="why")
        session.commit()
        stored = session.get(Subscriber, reader.id)
        events = session.exec(select(Event).where(Event.subscriber_id == reader.id)).all()
    assert changed is expected
    assert stored is not None and stored.status == (wanted if expected else current).value
    if expected:
        assert [(e.kind, e.method, e.detail) for e in events] == [
            (KIND.get((current, wanted), wanted.value), "test", "why")
        ]
    else:
        assert events == [], "a refused change records nothing"


def test_a_suppressed_reader_is_never_activated_by_a_link_that_is_not_consent(engine: Engine) -> None:
    for suppressed in (U, B, C):
        assert not status.allowed(suppressed, A) and not status.allowed(suppressed, P)
    assert not status.allowed(A, P), "an active reader never goes back to pending"


class _StatusWrites(ast.NodeVisitor):
    """Assignments to ``<something>.status`` and ``update(Subscriber)`` statements."""

    def __init__(self) -> None:
        self.found: list[str] = []

    def visit_Assign(self, node: ast.Assign) -> None:
        for target in node.targets:
            for part in ast.walk(target):
                if isinstance(part, ast.Attribute) and part.attr == "status":
                    self.found.append(ast.unparse(part))
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        """``update(Subscriber)....values(status=...)``: a bulk write of the column."""
        writes_status = isinstance(node.func, ast.Attribute) and node.func.attr == "values"
        if writes_status and any(k.arg == "status" for k in node.keywords) and _updates_subscriber(node.func):
            self.found.append("update(Subscriber).values(status=...)")
        self.generic_visit(node)


def _updates_subscriber(node: ast.AST) -> bool:
    for part in ast.walk(node):
        if isinstance(part, ast.Call) and isinstance(part.func, ast.Name) and part.func.id == "update":
            return any(isinstance(a, ast.Name) and a.id == "Subscriber" for a in part.args)
    return False


def test_nothing_but_the_status_module_writes_a_readers_status() -> None:
    """Issues and send reports have statuses of their own; a reader's is written in digest/status.py only."""
    writes: dict[str, list[str]] = {}
    for path in sorted((ROOT / "digest").rglob("*.py")):
        if path == ROOT / "digest" / "status.py" or "migrations" in path.parts:
            continue
        visitor = _StatusWrites()
        visitor.visit(ast.parse(path.read_text(encoding="utf-8")))
        others = [w for w in visitor.found if w not in ("issue.status", "report.status")]
        if others:
            writes[str(Path(path).relative_to(ROOT))] = others
    assert writes == {}
