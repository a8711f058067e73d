"""Fuzzing operator input with hypothesis: sources.yaml, subscriber rows and --pref values end
in a clear error (DigestError) or are accepted, never in a traceback."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from digest.config import parse_sources
from digest.errors import ConfigError, DigestError
from digest.subscribers import SubscriberError, clean_record, parse_prefs

scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=30))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(st.text(max_size=12), inner, max_size=4)),
                      max_leaves=12)  # fmt: skip
KEYS = ["newsletter", "sources", "ranking", "ingest", "delivery", "name", "url", "kind", "format", "mapping",
        "timezone", "schedule", "from", "weight", "jobs_per_email", "title", "items"]  # fmt: skip
config_like = st.dictionaries(st.sampled_from(KEYS), values, max_size=5)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(config_like, st.text(max_size=200)))
def test_sources_yaml_never_tracebacks(document: Any) -> None:
    text = document if isinstance(document, str) else yaml.safe_dump(document)
    try:
        parse_sources(text)
    except ConfigError as exc:
        assert str(exc).startswith("sources.yaml") and "\n" not in str(exc)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.sampled_from(["email", "name", "roles", "locations", "remote", "seniority", "audience",
                                        "status", "colour"]), st.text(max_size=40), max_size=8))  # fmt: skip
def test_subscriber_rows_never_traceback(record: dict[str, str]) -> None:
    try:
        cleaned = clean_record(record)
    except SubscriberError as exc:
        assert "\n" not in str(exc)
        return
    assert "@" in cleaned["email"] and all(c not in str(cleaned) for c in ("\r", "\0"))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(max_size=40), max_size=5))
def test_pref_values_never_traceback(pairs: list[str]) -> None:
    with contextlib.suppress(DigestError):
        parse_prefs(pairs)


def test_fuzzed_csv_file_imports_good_lines(tmp_path: Path) -> None:
    from digest.db import open_database
    from digest.subscribers import import_file

    lines = ["email,name,remote", "ok@example.com,Ok,true", '"unterminated,Bad', "\x00nul@example.com,N,true",
             "two@example.com,Two,perhaps", "three@example.com,Three,false,extra"]  # fmt: skip
    (tmp_path / "f.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    engine = open_database(f"sqlite:///{tmp_path / 'f.db'}")
    report = import_file(engine, tmp_path / "f.csv")
    assert report.added == 1 and {r["line"] for r in report.rejected} >= {4, 5}
