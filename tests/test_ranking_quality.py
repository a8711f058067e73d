"""Ranking measured on the real postings of ../shared/corpus against hand-written judgements
(tests/data/ranking_judgements.json, and a second judge's blind ones beside it, scored by
scripts/eval_ranking.py): a floor it must keep."""

from __future__ import annotations

from pathlib import Path

import pytest

from digest.build.ranking import JobCandidate, rank_jobs
from digest.build.roles import LEADERSHIP, PM, TPM, classify, family_of
from digest.config import Ranking
from digest.preferences import Preferences
from scripts.eval_ranking import JUDGEMENTS, WEEKS, Score, build_week, evaluate, load_judgements
from tests.conftest import CORPUS, needs_corpus
from tests.test_ranking import NOW, job

BLIND = JUDGEMENTS.with_name("ranking_judgements_blind.json")


@needs_corpus()
@pytest.mark.slow
@pytest.mark.parametrize("week", list(WEEKS))
def test_every_reader_gets_a_full_precise_email_from_real_postings(tmp_path: Path, week: str) -> None:
    built = build_week(tmp_path, CORPUS, WEEKS[week])
    for judge in (JUDGEMENTS, BLIND):  # ours, and a second judge's who never saw the ranking's code
        _holds_the_floor(week, evaluate(built, load_judgements(judge)))


def _holds_the_floor(week: str, results: list[tuple[Score, list[str]]]) -> None:
    assert {r.reader for r, _ in results} >= {
        "product manager",
        "technical product manager",
        "product designer",
        "product leadership",
        "back-end engineer",
        "no preferences",
    }
    for result, picked in results:
        assert result.fill >= 0.9, (week, result)
        assert result.precision >= 0.9, (week, result, picked)
        assert result.ndcg >= 0.8, (week, result, picked)
    tpm = next(picked for r, picked in results if r.reader == "technical product manager")
    assert not [title for title in tpm if "program manager" in title.lower()]


@pytest.mark.parametrize(("title", "families"), [
    ("Senior Product Manager, Azure HPC & AI", {PM, TPM}),
    ("Product Manager (Technical)", {PM, TPM}),
    ("Product Manager, CUDA-Q Libraries", {PM, TPM}),
    ("Senior Technical Program Manager - Azure Maia", set()),
    ("Lead Technical Program Manager (TPM)", set()),
    ("Product Marketing Manager", set()),
    ("Production Manager, Quantum Sensing", set()),
    ("Senior Product Engineer (Fullstack)", set()),
    ("Senior Director of Platform & Product", {LEADERSHIP}),
    ("Director of Product Management", {LEADERSHIP}),
    ("Product Manager, Growth", {PM}),
    ("Head of Product Marketing", set()),  # the near miss's words are not read as "head of product"
    ("VP, Product Marketing", set()),
    ("Senior Product Manager, Head-Mounted Displays", {PM}),  # "head" after the role leads nothing
    ("Product Manager, Chief of Staff Office", {PM}),
    ("Product Manager, Production Systems", {PM}),
])  # fmt: skip
def test_the_role_model_reads_titles_as_a_person_would(title: str, families: set[str]) -> None:
    assert classify(title).families == families


def test_an_acronym_counts_only_when_its_context_agrees() -> None:
    assert TPM in classify("Senior TPM, Developer Tools", "own the API and SDK roadmap").families
    assert not classify("Senior TPM", "run the program across hardware teams").families
    assert classify("Senior TPM", "run the program across hardware teams").near_miss == "program manager"
    assert PM in classify("Senior PM", "own the product roadmap").families
    assert PM in classify("Senior PM, Programming Languages", "own the compiler product").families  # not a program
    assert not classify("Meetup at 6 pm", "").families
    # a technical word in the title does not outweigh a description about programs
    program = classify("TPM, Payments", "You will run the program across hardware and firmware teams")
    assert not program.families and program.near_miss == "program manager"
    assert TPM in classify("TPM, Payments", "Own the payments product roadmap with engineering").families


def test_a_near_miss_is_what_a_reader_who_asks_for_it_gets() -> None:
    jobs = [job(1, "Technical Program Manager"), job(2, "Manager, Computational Scientific Programming", "B"),
            job(3, "Product Marketing Manager", "C"), job(4, "Product Manager", "D")]  # fmt: skip
    program = rank_jobs(jobs, Preferences.of(roles=["program manager"]), Ranking(), NOW, 10)
    marketing = rank_jobs(jobs, Preferences.of(roles=["product marketing"]), Ranking(), NOW, 10)
    product = rank_jobs(jobs, Preferences.of(roles=["product manager"]), Ranking(), NOW, 10)
    assert [p.id for p in program] == [1]
    assert [p.id for p in marketing][:1] == [3] and 1 not in [p.id for p in marketing]
    assert [p.id for p in product] == [4]


def test_a_tpm_reader_never_gets_a_program_manager_by_acronym() -> None:
    jobs = [job(1, "Senior TPM, Platform", body="drive the program plan across hardware programs and vendors"),
            job(2, "Senior TPM, Platform", "B", body="own the platform product roadmap and its APIs")]  # fmt: skip
    picks = rank_jobs(jobs, Preferences.of(roles=["technical product manager"]), Ranking(), NOW, 10)
    assert [p.id for p in picks] == [2]


def test_leadership_words_lead_only_where_a_title_names_a_rank() -> None:
    jobs = [job(1, "Head of Product Marketing"), job(2, "Senior Product Manager, Head-Mounted Displays", "B"),
            job(3, "Head of Product", "C")]  # fmt: skip
    leaders = rank_jobs(jobs, Preferences.of(roles=["product leadership"]), Ranking(), NOW, 10)
    pms = rank_jobs(jobs, Preferences.of(roles=["product manager"]), Ranking(), NOW, 10)
    assert [p.id for p in leaders] == [3, 2] and leaders[1].reasons[0] == "Close to your roles: product manager"
    assert pms[0].id == 2 and pms[0].reasons[0] == "Matches your roles: product manager"
    assert 1 not in [p.id for p in pms]


def test_a_reader_who_says_design_means_product_design() -> None:
    jobs = [job(1, "Senior Graphic Designer"), job(2, "Senior Product Designer", "B"), job(3, "UX Designer", "C")]
    picks = rank_jobs(jobs, Preferences.of(roles=["design"]), Ranking(), NOW, 10)
    assert sorted(p.id for p in picks[:2]) == [2, 3] and picks[2].id == 1


def test_a_topic_named_only_in_the_body_is_a_mention_after_the_title_matches() -> None:
    jobs = [job(1, "Office Manager", body="we move payments for marketplaces " * 5),
            job(2, "Product Manager, Payments", "B"), job(3, "Product Marketing Manager, Payments", "C")]  # fmt: skip
    picks = rank_jobs(jobs, Preferences.of(roles=["payments"]), Ranking(), NOW, 10)
    assert [p.id for p in picks] == [2, 1], "a near miss is left out for a reader who did not ask for it"
    assert picks[0].reasons[0] == "Matches your roles: payments" and picks[1].reasons[0] == "Mentions payments"
    assert dict(picks[1].detail)["tier"] == "related"


def test_a_role_mentioned_in_passing_is_a_related_pick() -> None:
    jobs = [job(1, "Product Success Manager (Product management experience required)"),
            job(2, "Product Success Manager", "B")]  # fmt: skip
    picks = rank_jobs(jobs, Preferences.of(roles=["product manager"]), Ranking(), NOW, 10)
    assert [p.id for p in picks] == [1] and picks[0].reasons[0] == "Close to your roles: product manager"


def test_a_role_of_stop_words_alone_is_no_role() -> None:
    jobs = [job(1, "Product Manager"), job(2, "Android Engineer", "B")]
    named = rank_jobs(jobs, Preferences.of(roles=["the", "🚀"]), Ranking(), NOW, 10)
    assert [p.id for p in named] == [p.id for p in rank_jobs(jobs, Preferences(), Ranking(), NOW, 10)]
    assert named and named[0].id == 1


def test_readers_words_name_families() -> None:
    assert family_of("TPM") == TPM and family_of("Head of Product") == LEADERSHIP
    assert family_of("technical product management") == TPM and family_of("back-end engineer") is None


def test_related_roles_fill_an_email_and_say_so() -> None:
    jobs = [
        job(1, "Product Manager, Payments"),
        job(2, "Director of Product", company="Other"),
        job(3, "Product Marketing Manager", company="Third"),
        job(4, "Senior Graphic Designer", company="Fourth"),
    ]
    picks = rank_jobs(jobs, Preferences.of(roles=["product manager"]), Ranking(), NOW, 10)
    assert [p.id for p in picks] == [1, 2]
    assert picks[0].reasons[0] == "Matches your roles: product manager"
    assert picks[1].reasons[0] == "Close to your roles: product leadership"
    assert dict(picks[1].detail)["tier"] == "related"


def test_a_free_text_role_needs_its_noun_in_the_title() -> None:
    jobs = [
        job(1, "Senior Graphic Designer", body="work with our back-end engineers"),
        job(2, "Senior Backend Engineer", company="B"),
        job(3, "Back-End Developer (Go)", company="C"),
        job(4, "Full Stack Engineer", company="D", body="backend services in Go"),
    ]
    picks = rank_jobs(jobs, Preferences.of(roles=["back-end engineer"]), Ranking(), NOW, 10)
    assert [p.id for p in picks] == [2, 3, 4] or [p.id for p in picks] == [3, 2, 4]
    assert picks[2].reasons[0] == "Close to your roles: back-end engineer"


def test_level_and_pay_read_against_the_table() -> None:
    def salaried(id: int, title: str, low: int, high: int) -> JobCandidate:
        return JobCandidate(id, title, f"C{id}", "", False, True, "", 0, NOW, 1.0, low, high, "USD")

    senior_fair = salaried(1, "Senior Product Manager, API", 185_000, 215_000)
    senior_low = salaried(2, "Senior Product Manager, SDK", 120_000, 140_000)
    unpaid = job(3, "Senior Product Manager, Data", company="C3")
    picks = rank_jobs([senior_low, unpaid, senior_fair], Preferences.of(roles=["tpm"], seniority="senior"),
                      Ranking(), NOW, 10)  # fmt: skip
    assert [p.id for p in picks] == [1, 2, 3], "in line first; a posting without a range last"
    assert "Pay in line for senior level" in picks[0].reasons and "Senior level" in picks[0].reasons
    assert "Pay below the usual senior range" in picks[1].reasons and picks[1].score < picks[0].score


@pytest.mark.parametrize(("low", "high", "currency", "words"), [
    (120_000, 140_000, "GBP", "pay in line for senior level"),  # the UK band: 110-150k
    (60_000, 70_000, "GBP", "pay below the usual senior range"),
    (185_000, 215_000, "US$", "pay in line for senior level"),
    (110, 190, "USD", ""),  # an hourly rate: no verdict, just "Salary listed"
    (9_000, 12_000, "USD", ""),  # monthly
    (220_000, 180_000, "USD", ""),  # upside down
    (0, 0, "USD", ""),
    (150_000, 180_000, "JPY", ""),  # no band for the currency
])  # fmt: skip
def test_pay_verdicts_only_for_yearly_ranges_in_known_currencies(
    low: int, high: int, currency: str, words: str
) -> None:
    senior = JobCandidate(1, "Senior Product Manager", "C", "", False, True, "", 0, NOW, 1.0, low, high, currency)
    assert senior.pay.words == words
