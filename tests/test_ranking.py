"""Ranking is pure: candidates and preferences in, picks with reasons out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from digest.build.ranking import JobCandidate, PersonCandidate, rank_jobs, rank_people
from digest.config import Ranking
from digest.preferences import Preferences

NOW = datetime(2026, 11, 26, 12, tzinfo=UTC)
WEIGHTS = Ranking()


def job(id: int, title: str, company: str = "Acme", location: str = "", remote: bool = False,
        salary: bool = False, body: str = "", days_old: float = 1.0) -> JobCandidate:  # fmt: skip
    return JobCandidate(id, title, company, location, remote, salary, body, len(body), NOW - timedelta(days=days_old))


JOBS = [
    job(1, "Senior Technical Product Manager, Payments API", "Ledgerly", "London, UK", True, True, "payments " * 40),
    job(2, "Product Designer", "Kitebase", "Berlin, Germany", False, False, "design systems"),
    job(3, "Android Engineer", "Hinge", "New York", False, True, "kotlin"),
    job(4, "Product Manager, Messaging", "Northwind", "New York, NY", False, True, "sms"),
    job(5, "Senior TPM, Developer Tools", "Acme", "Remote - UK", True, True, "api design sdk"),
    job(6, "Senior TPM, Billing", "Acme", "Remote - UK", True, True, "payments billing"),
    job(7, "Senior TPM, Auth", "Acme", "Remote - UK", True, True, "oauth"),
    job(8, "Senior TPM, Developer Tools", "Acme", "Remote - EU", True, True, "api design sdk"),
]


def ids(picks: list) -> list[int]:  # type: ignore[type-arg]
    return [p.id for p in picks]


def test_readers_with_different_preferences_get_different_sensible_picks() -> None:
    tpm = Preferences.of(roles=["technical product manager", "payments"], remote=True, seniority="senior")
    designer = Preferences.of(roles=["product designer"], locations=["Berlin"])
    pm = Preferences.of(roles=["product manager"], locations=["new york"])
    tpm_picks = rank_jobs(JOBS, tpm, WEIGHTS, NOW, 10)
    assert tpm_picks[0].id == 1 and 2 not in ids(tpm_picks) and 3 not in ids(tpm_picks)
    assert tpm_picks[0].reasons == (
        "Matches your roles: payments, technical product manager",
        "Remote",
        "Senior level",
        "Salary listed",
    )
    assert ids(rank_jobs(JOBS, designer, WEIGHTS, NOW, 10)) == [2]
    assert rank_jobs(JOBS, designer, WEIGHTS, NOW, 10)[0].reasons[:2] == (
        "Matches your roles: product designer",
        "In Berlin",
    )
    pm_picks = ids(rank_jobs(JOBS, pm, WEIGHTS, NOW, 10))
    assert pm_picks[0] == 4 and 3 not in pm_picks


def test_no_more_than_n_per_company_and_no_duplicate_role() -> None:
    picks = rank_jobs(JOBS, Preferences(), WEIGHTS, NOW, 10)
    acme = [p for p in picks if p.id in (5, 6, 7, 8)]
    assert len(acme) == WEIGHTS.max_per_company
    assert not {5, 8} <= set(ids(picks)), "one role listed twice by a board is shown once"


def test_fresher_jobs_rank_higher_and_ties_are_stable() -> None:
    old, new = job(1, "PM", days_old=10), job(2, "PM 2", days_old=0)
    assert ids(rank_jobs([old, new], Preferences(), WEIGHTS, NOW, 5)) == [2, 1]
    assert rank_jobs(JOBS, Preferences(), WEIGHTS, NOW, 5) == rank_jobs(
        list(reversed(JOBS)), Preferences(), WEIGHTS, NOW, 5
    )


def test_weights_come_from_config() -> None:
    salary_first = Ranking(freshness=0, match=0, completeness=5, source_weight=0)
    fresh_first = Ranking(freshness=5, match=0, completeness=0, source_weight=0)
    older_with_salary = job(1, "A", salary=True, days_old=6)
    newer_without = job(2, "B", salary=False, days_old=0, company="Other")
    assert ids(rank_jobs([older_with_salary, newer_without], Preferences(), salary_first, NOW, 2)) == [1, 2]
    assert ids(rank_jobs([older_with_salary, newer_without], Preferences(), fresh_first, NOW, 2)) == [2, 1]


def test_people_ranked_by_match_and_completeness() -> None:
    joined = NOW - timedelta(days=1)
    people = [
        PersonCandidate(
            1, "Amara", "Senior TPM, payments", "London", ("API design", "payments"), "senior", True, joined
        ),
        PersonCandidate(2, "Dan", "Product designer", "Berlin", ("prototyping",), "mid", False, joined),
    ]
    hiring = Preferences.of(roles=["technical product manager"], audience="people")
    assert ids(rank_people(people, hiring, WEIGHTS, 5)) == [1]
    assert ids(rank_people(people, Preferences(), WEIGHTS, 5)) == [1, 2]


def test_segment_key_ignores_case_order_and_spacing() -> None:
    a = Preferences.of(roles=["Payments", "TPM"], locations=["London "], remote=True)
    b = Preferences.of(roles=["tpm", "payments"], locations=["london"], remote=True)
    assert a.key == b.key and a.key != Preferences.of(roles=["tpm"]).key
