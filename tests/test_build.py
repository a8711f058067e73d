"""Building an issue: what is new, per segment, frozen; empty weeks skipped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from digest.build.issue import build_issue, find_issue, segment_for
from digest.config import Config
from digest.models import IssueItem, Job, Profile, Segment
from digest.preferences import Preferences
from tests.conftest import ROOT, config_for
from tests.helpers import add_reader, ingest_samples

pytestmark = pytest.mark.dates

MONDAY = datetime(2026, 11, 23, 9, tzinfo=UTC)  # 2026-W48


def picks_of(engine: Engine, week: str, prefs: Preferences) -> list[dict[str, object]]:
    with Session(engine) as session:
        issue = find_issue(engine, week)
        return session.exec(select(Segment).where(Segment.issue_id == issue.id, Segment.key == prefs.key)).one().picks


def test_segments_audiences_and_public_profiles(engine: Engine, sample_config: Config) -> None:
    ingest_samples(engine, sample_config, now=MONDAY - timedelta(hours=1))
    add_reader(engine, "ada@example.com", roles=["technical product manager", "payments"], remote=True)
    add_reader(engine, "twin@example.com", roles=["Payments", "Technical Product Manager"], remote=True)
    add_reader(engine, "lin@example.com", roles=["product designer"], audience="jobs")
    add_reader(engine, "hire@example.com", roles=["technical product manager"], audience="people")
    add_reader(engine, "gone@example.com", roles=["growth"], status="unsubscribed")
    report = build_issue(engine, sample_config, now=MONDAY)
    assert (report.week, report.status, report.jobs, report.people, report.segments) == ("2026-W48", "built", 16, 7, 3)
    with Session(engine) as session:
        private = session.exec(select(Profile).where(Profile.public == False)).one()  # noqa: E712
        pool_people = session.exec(select(IssueItem.item_id).where(IssueItem.kind == "person")).all()
        titles = {j.id: j.title for j in session.exec(select(Job))}
    assert private.id not in pool_people
    ada = picks_of(engine, "2026-W48", Preferences.of(["technical product manager", "payments"], remote=True))
    lin = picks_of(engine, "2026-W48", Preferences.of(["product designer"], audience="jobs"))
    hire = picks_of(engine, "2026-W48", Preferences.of(["technical product manager"], audience="people"))
    assert titles[ada[0]["id"]] == "Senior Technical Product Manager, Payments API"  # type: ignore[index]
    assert {p["kind"] for p in ada} == {"job", "person"}
    assert {p["kind"] for p in lin} == {"job"} and all("Designer" in titles[p["id"]] for p in lin)  # type: ignore[index]
    assert {p["kind"] for p in hire} == {"person"}


def test_an_issue_is_frozen(engine: Engine, sample_config: Config) -> None:
    ingest_samples(engine, sample_config, now=MONDAY - timedelta(hours=1))
    first = build_issue(engine, sample_config, now=MONDAY)
    before = picks_of(engine, first.week, Preferences())
    with Session(engine) as session:  # a posting changes after the build
        job = session.exec(select(Job)).first()
        assert job is not None
        job.salary_min = job.salary_max = None
        session.add(job)
        session.commit()
    again = build_issue(engine, sample_config, now=MONDAY + timedelta(hours=3))
    assert again.already_built and picks_of(engine, first.week, Preferences()) == before


def test_a_reader_who_joins_later_is_ranked_from_the_frozen_pool(engine: Engine, sample_config: Config) -> None:
    ingest_samples(engine, sample_config, now=MONDAY - timedelta(hours=1))
    build_issue(engine, sample_config, now=MONDAY)
    issue = find_issue(engine, "2026-W48")
    late = segment_for(engine, sample_config, issue, Preferences.of(["product designer"]))
    assert late.picks and segment_for(engine, sample_config, issue, Preferences.of(["product designer"])).id == late.id


def test_empty_and_thin_weeks_are_skipped(engine: Engine, tmp_path: Path) -> None:
    config = config_for(tmp_path, "newsletter: {min_items: 3}\nsources: []\n")
    report = build_issue(engine, config, now=MONDAY)
    assert report.status == "skipped" and "0 new job(s)" in report.note


def test_next_issue_takes_only_what_is_new_and_never_repeats(engine: Engine, sample_config: Config) -> None:
    ingest_samples(engine, sample_config, now=MONDAY - timedelta(hours=1))
    assert build_issue(engine, sample_config, now=MONDAY).status == "built"
    next_week = build_issue(engine, sample_config, now=MONDAY + timedelta(days=7))
    assert next_week.status == "skipped" and next_week.week == "2026-W49"
    feed = ROOT / "samples" / "product-jobs.rss"
    extra = feed.read_text().replace(
        "</channel>",
        """<item><title>Zed: Product Manager, Search</title>
      <link>https://jobs.example.com/zed/pm-search</link></item></channel>""",
    )
    (Path(sample_config.base_dir) / "samples" / "product-jobs.rss").write_text(extra)
    config = config_for(
        Path(sample_config.base_dir), (ROOT / "sources.yaml").read_text().replace("min_items: 3", "min_items: 1")
    )
    ingest_samples(engine, config, now=MONDAY + timedelta(days=13))
    week50 = build_issue(engine, config, now=MONDAY + timedelta(days=14))
    assert (week50.week, week50.status, week50.jobs, week50.people) == ("2026-W50", "built", 1, 0)


def test_absurd_or_missing_dates_count_from_first_seen(engine: Engine, tmp_path: Path) -> None:
    (tmp_path / "f.rss").write_text("""<rss version="2.0"><channel><title>t</title>
      <item><title>A: PM</title><link>https://a.example/1</link><pubDate>Mon, 01 Jan 2046 00:00:00 +0000</pubDate></item>
      <item><title>B: PM</title><link>https://a.example/2</link><pubDate>Tue, 02 Jan 1990 00:00:00 +0000</pubDate></item>
      <item><title>C: PM</title><link>https://a.example/3</link><pubDate>Sun, 01 Nov 2026 00:00:00 +0000</pubDate></item>
      </channel></rss>""")
    config = config_for(tmp_path, "newsletter: {min_items: 1}\nsources:\n  - {name: f, url: f.rss}\n")
    ingest_samples(engine, config, now=MONDAY - timedelta(hours=1))
    report = build_issue(engine, config, now=MONDAY)
    assert report.jobs == 2, "the 2046 and 1990 dates are absurd; the November 1 posting is older than a week"
