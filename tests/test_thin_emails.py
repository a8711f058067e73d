"""No empty or thin email: a reader with fewer picks of their own than newsletter.min_picks gets
the week's best as well, labelled (below_min_picks: fill), or no email that week with the
reason in the ledger (below_min_picks: skip); an email with nothing in it is never sent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from digest.build.explain import explain_issue
from digest.build.issue import BuildSettings, Pool, build_issue, find_issue, rank_segment
from digest.build.ranking import picks_of
from digest.config import Config
from digest.deliver.send import SendOptions
from digest.deliver.stats import issue_stats
from digest.errors import InputError
from digest.models import Delivery, Segment, Subscriber
from digest.preferences import Preferences
from digest.render.compose import Composer
from digest.render.preview import render_preview
from digest.week import run_week
from tests.helpers import add_reader, ingest_samples
from tests.smtpserver import smtp_server
from tests.test_send import smtp_config

pytestmark = pytest.mark.dates

MONDAY = datetime(2026, 11, 23, 9, tzinfo=UTC)
UX = Preferences.of(["ux researcher"], audience="jobs")  # nothing of theirs in the samples


def below(config: Config, mode: str, least: int = 3) -> Config:
    newsletter = config.file.newsletter.model_copy(update={"below_min_picks": mode, "min_picks": least})
    file = config.file.model_copy(update={"newsletter": newsletter})
    return type(config)(config.settings, file, config.base_dir)


def segment(engine: Engine, prefs: Preferences) -> Segment:
    with Session(engine) as session:
        issue = find_issue(engine, "2026-W48")
        return session.exec(select(Segment).where(Segment.issue_id == issue.id, Segment.key == prefs.key)).one()


def test_by_default_a_thin_email_is_filled_with_the_weeks_best_labelled(engine: Engine, sample_config: Config) -> None:
    ingest_samples(engine, sample_config, now=MONDAY - timedelta(hours=1))
    reader = add_reader(engine, "ux@example.com", "Uma", roles=["ux researcher"], audience="jobs")
    add_reader(engine, "ada@example.com", roles=["technical product manager", "payments"])
    build_issue(engine, sample_config, now=MONDAY)
    frozen = segment(engine, UX)
    picks = picks_of(frozen.picks)
    assert frozen.skip_reason == "" and picks and {p.tier for p in picks} == {"filler"}
    assert all(p.reasons == ("One of this week's top picks",) for p in picks)
    email = Composer.open(engine, sample_config, find_issue(engine, "2026-W48")).email_for(reader)
    assert "More from this week" in email.html and "Top jobs this week" not in email.html
    assert "Nothing new matched your choices this week" in email.text and "Change your choices" in email.text
    assert email.subject == "This week's top product jobs", "the subject never names a filler pick, nor people"
    assert email.preheader == "The week's 10 top picks." and "Hi Uma, here are this week's top picks." in email.text
    lines = "\n".join(explain_issue(engine, "2026-W48"))
    assert "(filling a thin email)" in lines and "roles: ux researcher" in lines


def test_skip_mode_sends_nothing_and_says_why_in_the_ledger_and_stats(engine: Engine, sample_config: Config) -> None:
    config = below(sample_config, "skip")
    ingest_samples(engine, config, now=MONDAY - timedelta(hours=1))
    add_reader(engine, "ux@example.com", roles=["ux researcher"], audience="jobs")
    add_reader(engine, "ada@example.com", roles=["technical product manager", "payments"])
    build_issue(engine, config, now=MONDAY)
    assert segment(engine, UX).skip_reason.startswith("thin: 0 picks for their choices this week, fewer than 3")
    with smtp_server() as sink:
        config = smtp_config(config, sink.port)
        dry = run_week(engine, config, SendOptions(week="2026-W48", dry_run=True))
        report = run_week(engine, config, SendOptions(week="2026-W48"))
    assert dry.skipped_thin == 1 and "skip 1 reader(s) with too few picks" in dry.note
    assert sink.received() == {"ada@example.com": 1}
    assert (report.sent, report.skipped, report.skipped_thin) == (1, 1, 1)
    with Session(engine) as session:
        ux = session.exec(select(Subscriber).where(Subscriber.email == "ux@example.com")).one()
        row = session.exec(select(Delivery).where(Delivery.subscriber_id == ux.id)).one()
    assert row.status == "skipped" and row.reply.startswith("thin: ")
    (stats,) = issue_stats(engine, "2026-W48")
    assert (stats.sent, stats.skipped, stats.skipped_thin) == (1, 1, 1)
    assert stats.to_json()["skipped_thin"] == 1
    assert "not mailed this week: 0 picks for their choices" in "\n".join(explain_issue(engine, "2026-W48"))
    with pytest.raises(InputError, match=r"ux@example\.com gets no email this week \(0 picks for their choices"):
        run_week(engine, config, SendOptions(week="2026-W48", to="me@example.com", as_reader="ux@example.com"))
    with pytest.raises(InputError, match=r"ux@example\.com gets no email in 2026-W48"):
        render_preview(engine, config, "2026-W48", "ux@example.com", "html")


def test_an_email_with_nothing_in_it_is_never_sent(sample_config: Config) -> None:
    for mode in ("fill", "skip"):
        settings = BuildSettings.of(below(sample_config, mode, least=0))  # even with no minimum
        ranked = rank_segment(settings, Pool(), UX, MONDAY)
        assert ranked.picks == [] and ranked.skip_reason.startswith("thin: ")
    assert rank_segment(BuildSettings.of(below(sample_config, "fill")), Pool(), UX, MONDAY).skip_reason == (
        "thin: nothing this week"
    )


def test_each_part_a_reader_wants_is_topped_up_and_a_level_said_in_a_role_holds_for_the_filler(
    sample_config: Config,
) -> None:
    from digest.build.ranking import PersonCandidate
    from tests.test_ranking import NOW, job

    jobs = [job(1, "Product Design Intern", "A"), job(2, "Junior Product Manager", "B"),
            job(3, "Senior Product Manager", "C"), job(4, "Staff Product Manager", "D")]  # fmt: skip
    people = [PersonCandidate(i, f"P{i}", "Senior Product Designer", "Berlin", ("Figma", "design systems"), "senior",
                              True, NOW) for i in range(1, 5)]  # fmt: skip
    pool = Pool(jobs, people)
    settings = BuildSettings.of(below(sample_config, "fill"))
    ranked = rank_segment(settings, pool, Preferences.of(["senior product designer"]), NOW)
    own = [(p.kind, p.id) for p in ranked.picks if p.tier != "filler"]
    more = [(p.kind, p.id) for p in ranked.picks if p.tier == "filler"]
    assert own == [("person", i) for i in range(1, 5)], "four people of their own: no job of theirs this week"
    assert more and {kind for kind, _ in more} == {"job"}, "the jobs part, short, is topped up"
    assert {i for _, i in more} == {3, 4}, "no intern or junior posting for a senior designer, even as filler"
