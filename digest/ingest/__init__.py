"""Ingestion: fetch every source, parse it into normalised records, store them once.

The names below load on first use, so a command that only needs ``digest.text``
(sending, for one) does not import the fetchers and parsers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from digest.ingest.run import IngestReport, SourceReport, ingest

__all__ = ["IngestReport", "SourceReport", "ingest"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from digest.ingest import run

        return getattr(run, name)
    raise AttributeError(f"module 'digest.ingest' has no attribute {name!r}")
