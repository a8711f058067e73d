"""Ingestion: fetch every source, parse it into normalised records, store them once."""

from digest.ingest.run import IngestReport, SourceReport, ingest

__all__ = ["IngestReport", "SourceReport", "ingest"]
