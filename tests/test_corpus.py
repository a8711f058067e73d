"""Every real feed and job-board response in ../shared/corpus: counts and spot checks."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from sqlalchemy import Engine
from sqlmodel import Session, select

from digest.config import Config
from digest.ingest import ingest
from digest.models import Job, JobSource, Source
from tests.conftest import CORPUS, ROOT, config_for, needs_corpus

pytestmark = [needs_corpus(), pytest.mark.dates]

JF_SOURCES = [  # blogs' JSON Feeds: not jobs, but the same ingest
    {"name": "jf-df", "url": "{corpus}/jsonfeed/DaringFireball.json"},
    {"name": "jf-3960", "url": "{corpus}/jsonfeed/3960.json"},
    {"name": "jf-pxlnv", "url": "{corpus}/jsonfeed/pxlnv.json", "format": "jsonfeed"},
    {"name": "jf-partial", "url": "{corpus}/jsonfeed/allthis-partial.json"},
]
JOB_SOURCES = yaml.safe_load((ROOT / "tests" / "data" / "corpus_jobs.yaml").read_text(encoding="utf-8"))
CONFIG = yaml.safe_dump({"sources": JOB_SOURCES + JF_SOURCES}).replace("{corpus}", str(CORPUS))

EXPECTED_SEEN = {
    "wwr-programming": 25, "wwr-product": 34, "wwr-backend": 59, "wwr-all": 100, "wwr-2014": 25,
    "wwr-2026": 4, "rct": 350, "remoteok": 97, "remotive": 31, "greenhouse-catawiki": 50,
    "greenhouse-gitlab": 2, "lever": 2, "ashby": 2, "jf-df": 48, "jf-3960": 20, "jf-pxlnv": 20,
    "github-jobs": 17, "himalayas": 4, "jobicy": 4, "workingnomads": 4, "hn": 7,
}  # fmt: skip


@pytest.fixture
def corpus(tmp_path: Path, engine: Engine) -> tuple[Config, dict[str, object]]:
    config = config_for(tmp_path, CONFIG)
    report = ingest(engine, config)
    return config, {s.name: s for s in report.sources}


def job(engine: Engine, **where: str) -> Job:
    with Session(engine) as session:
        query = select(Job)
        for key, value in where.items():
            query = query.where(getattr(Job, key) == value)
        return session.exec(query).one()


def test_every_file_ingests_with_the_right_count(corpus: tuple[Config, dict[str, object]]) -> None:
    _, reports = corpus
    seen = {name: r.seen for name, r in reports.items() if not r.error}  # type: ignore[attr-defined]
    assert seen == EXPECTED_SEEN
    skipped = {name: r.skipped for name, r in reports.items() if r.skipped}  # type: ignore[attr-defined]
    assert skipped == {"remoteok": 1}  # one Remote OK posting has an empty position: no title, not a job
    assert [name for name, r in reports.items() if r.error] == ["jf-partial"]  # type: ignore[attr-defined]


def test_a_truncated_json_feed_fails_with_one_line(corpus: tuple[Config, dict[str, object]]) -> None:
    report = corpus[1]["jf-partial"]
    assert report.error.startswith("invalid JSON at line 1 column")  # type: ignore[attr-defined]
    assert "\n" not in report.error  # type: ignore[attr-defined]


def test_wwr_duplicates_are_stored_once_and_remember_both_feeds(
    corpus: tuple[Config, dict[str, object]], engine: Engine
) -> None:
    with Session(engine) as session:
        wwr = session.exec(select(Source.id).where(Source.name.startswith("wwr-"))).all()  # type: ignore[attr-defined]
        links = session.exec(select(JobSource).where(JobSource.source_id.in_(wwr))).all()  # type: ignore[attr-defined]
    per_job: dict[int, int] = {}
    for link in links:
        per_job[link.job_id] = per_job.get(link.job_id, 0) + 1
    # 218 listings in the four 2022 feeds hold 27 GUIDs listed twice, plus the 2014 and 2026 feeds
    assert len(per_job) == 25 + 34 + 59 + 100 - 27 + 25 + 4
    assert sum(1 for n in per_job.values() if n == 2) == 27


def test_remoteok_mojibake_is_repaired(corpus: tuple[Config, dict[str, object]], engine: Engine) -> None:
    with Session(engine) as session:
        text = " ".join(j.company + j.title + j.summary for j in session.exec(select(Job)))
    assert "Zócalo" in text
    assert "ZÃ³calo" not in text and "â€™" not in text and "\u00e2\u0080\u0099" not in text


def test_spot_checks_per_format(corpus: tuple[Config, dict[str, object]], engine: Engine) -> None:
    aha = job(engine, title="Product Success Manager (Product management experience required)")
    assert (aha.company, aha.location, aha.remote) == ("Aha!", "USA Only", True)
    assert aha.published_at is not None and aha.published_at.isoformat() == "2022-11-04T13:27:04+00:00"
    empire = job(engine, uid="rct:job-3520")
    assert empire.company == "Empire AI" and empire.location == "New York City NY USA"
    assert empire.title == "Manager, Computational Scientific Programming, Research Computing"
    android = job(engine, title="Android Engineer III")
    assert (android.salary_min, android.salary_max, android.salary_currency) == (150000, 180000, "USD")
    assert android.published_at is not None and android.published_at.year == 2026
    assert "<li>" in android.html and android.company == "Matchgroup"
    gitlab = job(engine, title="Account Executive - Italy")
    assert gitlab.company == "GitLab" and "&lt;" not in gitlab.html and "<p>" in gitlab.html
    assert gitlab.published_at is not None and gitlab.published_at.isoformat() == "2026-04-17T09:58:03+00:00"
    designer = job(engine, title="Senior Graphic Designer")
    assert designer.company == "Lemon.io" and designer.remote
    assert designer.published_at is not None and designer.published_at.isoformat() == "2026-07-28T14:23:05+00:00"
    assert "blank.gif" not in designer.html and "<img" not in designer.html


def test_ashby_keeps_two_postings_of_one_role(corpus: tuple[Config, dict[str, object]], engine: Engine) -> None:
    with Session(engine) as session:
        linear = session.exec(select(Job).where(Job.title == "Senior / Staff Fullstack Engineer")).all()
    assert sorted(j.location for j in linear)[0] == "Europe"
    assert len(linear) == 2 and all(j.remote for j in linear)


def test_non_iso_dates_and_comment_lines(corpus: tuple[Config, dict[str, object]], engine: Engine) -> None:
    with Session(engine) as session:
        github = session.exec(select(Job).join(JobSource).join(Source).where(Source.name == "github-jobs")).all()
    assert len(github) == 17
    assert all(j.published_at is not None and j.published_at.year in (2018, 2019, 2020) for j in github)


def test_second_run_adds_and_updates_nothing(corpus: tuple[Config, dict[str, object]], engine: Engine) -> None:
    config, _ = corpus
    again = ingest(engine, config)
    assert (again.new, again.updated) == (0, 0)
