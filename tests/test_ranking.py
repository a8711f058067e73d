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
    assert tpm_picks[0].reasons == (  # reasons only: no "Salary listed" (the card's details line says pay)
        "Matches your roles: technical product manager",
        "About payments",
        "Remote",
        "Senior level",
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
    old, new = job(1, "Product Manager", days_old=10), job(2, "Product Manager 2", days_old=0)
    assert ids(rank_jobs([old, new], Preferences(), WEIGHTS, NOW, 5)) == [2, 1]
    assert rank_jobs(JOBS, Preferences(), WEIGHTS, NOW, 5) == rank_jobs(
        list(reversed(JOBS)), Preferences(), WEIGHTS, NOW, 5
    )


def test_weights_come_from_config() -> None:
    salary_first = Ranking(freshness=0, match=0, completeness=5, source_weight=0)
    fresh_first = Ranking(freshness=5, match=0, completeness=0, source_weight=0)
    older_with_salary = job(1, "Product Manager A", salary=True, days_old=6)
    newer_without = job(2, "Product Manager B", salary=False, days_old=0, company="Other")
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


# Roles and topics, the newsletter's scope, levels and places (how readers really fill in the page).


def test_a_topic_orders_picks_within_the_readers_roles_and_brings_in_no_other_family() -> None:
    jobs = [job(1, "Senior Software Engineer, Data Platform", "A"), job(2, "Client Partner, Enterprise Platform Sales", "B"),
            job(3, "Technical Product Manager, API Platform", "C"), job(4, "Technical Product Manager, Billing", "D"),
            job(5, "Senior Director of Platform & Product", "E")]  # fmt: skip
    prefs = Preferences.of(roles=["technical product manager", "api", "platform"])
    picks = rank_jobs(jobs, prefs, WEIGHTS, NOW, 10)
    assert ids(picks) == [3, 4], "the topic first; no engineer, salesperson or director brought in by 'platform'"
    assert picks[0].reasons[:2] == ("Matches your roles: technical product manager", "About api, platform")
    assert picks[1].reasons == ("Matches your roles: technical product manager",)


def test_topics_without_a_role_narrow_the_newsletters_scope() -> None:
    jobs = [
        job(1, "Product Manager, Payments", "A"),
        job(2, "Senior Backend Engineer, Payments", "B"),
        job(3, "Product Manager, Search", "C"),
        job(4, "Product Designer", "D", body="we build fintech for banks"),
    ]
    picks = rank_jobs(jobs, Preferences.of(roles=["fintech", "payments"]), WEIGHTS, NOW, 10)
    assert ids(picks) == [1, 4]
    assert picks[0].reasons[:2] == ("Product role: technical product manager", "About fintech, payments")


def test_a_reader_without_roles_gets_the_scope_and_nothing_else() -> None:
    jobs = [
        job(1, "Android Engineer III", "A", salary=True),
        job(2, "Product Designer", "B"),
        job(3, "Technical Program Manager", "C"),
    ]
    assert ids(rank_jobs(jobs, Preferences(), WEIGHTS, NOW, 10)) == [2]
    narrow = ("product designer",)
    from digest.build.reading import read_scope

    assert ids(rank_jobs(jobs, Preferences(), WEIGHTS, NOW, 10, read_scope(narrow))) == [2]
    engineers = read_scope(["product designer", "android engineer"])
    assert sorted(ids(rank_jobs(jobs, Preferences(), WEIGHTS, NOW, 10, engineers))) == [1, 2]


def test_related_picks_stay_inside_the_scope_and_say_plain_words() -> None:
    jobs = [
        job(1, "Senior Product Designer", "A"),
        job(2, "Design Intern Summer 2026", "B"),
        job(3, "Senior Graphic Designer", "C"),
        job(4, "UX Designer", "D"),
    ]
    picks = rank_jobs(jobs, Preferences.of(roles=["senior product designer", "design systems"]), WEIGHTS, NOW, 10)
    assert ids(picks) == [1, 4], "no intern for a senior designer; a graphic designer is outside the scope"
    assert not [r for p in picks for r in p.reasons if "design:" in r or r.endswith(": design")]
    assert ids(rank_jobs(jobs, Preferences.of(roles=["graphic designer"]), WEIGHTS, NOW, 10)) == [3], (
        "a job outside the scope reaches the reader who asked for its role"
    )


def test_a_level_orders_picks_and_keeps_out_what_is_two_levels_away() -> None:
    jobs = [job(1, "Product Manager Intern", "A"), job(2, "Associate Product Manager", "B"),
            job(3, "Product Manager II", "C"), job(4, "Senior Product Manager", "D"), job(5, "Staff Product Manager", "E"),
            job(6, "Director of Product", "F"), job(7, "Product Manager", "G")]  # fmt: skip
    senior = ids(rank_jobs(jobs, Preferences.of(roles=["product manager"], seniority="senior"), WEIGHTS, NOW, 10))
    assert senior[0] == 4 and 1 not in senior and 2 not in senior and 6 not in senior
    assert {3, 5, 7} <= set(senior)
    junior = ids(rank_jobs(jobs, Preferences.of(roles=["associate product manager"]), WEIGHTS, NOW, 10))
    assert junior[:2] in ([1, 2], [2, 1]) and 4 not in junior and 5 not in junior


def test_remote_only_on_site_and_places_are_kept_to() -> None:
    jobs = [job(1, "Product Manager", "A", "London, UK"), job(2, "Product Manager", "B", "USA Only", remote=True),
            job(3, "Product Manager", "C", "Europe Only", remote=True), job(4, "Product Manager", "D", "Berlin"),
            job(5, "Product Manager", "E", "", remote=True)]  # fmt: skip
    london = Preferences.of(roles=["product manager"], locations=["london"])
    assert ids(rank_jobs(jobs, london, WEIGHTS, NOW, 10)) == [1, 3, 5], "there, open to it, or of no known place"
    remote = Preferences.of(roles=["product manager"], locations=["london"], remote=True)
    assert ids(rank_jobs(jobs, remote, WEIGHTS, NOW, 10)) == [3, 5]
    on_site = Preferences.of(roles=["product manager"], remote=False)
    assert sorted(ids(rank_jobs(jobs, on_site, WEIGHTS, NOW, 10))) == [1, 4]


def test_a_hiring_reader_gets_the_roles_they_hire_for_and_a_job_seeker_peers() -> None:
    joined = NOW - timedelta(days=1)
    people = [PersonCandidate(1, "Amara", "Senior TPM, API platform", "London", ("API design",), "senior", True, joined),
              PersonCandidate(2, "Ravi", "TPM | hardware programs | PMP", "Austin", ("program management",), "", True,
                              joined),
              PersonCandidate(3, "Lea", "Product designer", "Berlin", ("Figma",), "mid", True, joined)]  # fmt: skip
    hiring = rank_people(people, Preferences.of(roles=["tpm", "platform"], audience="people"), WEIGHTS, 6)
    assert ids(hiring) == [1] and hiring[0].reasons[:2] == ("Hiring for: technical product manager",
                                                            "Works on platform")  # fmt: skip
    peers = rank_people(people, Preferences.of(roles=["product designer"]), WEIGHTS, 6)
    assert ids(peers) == [3] and peers[0].reasons[0] == "A peer: product designer"


def test_a_free_text_role_of_several_words_needs_one_of_them_in_a_related_title() -> None:
    jobs = [job(1, "Release Manager", "A", body="technical program cadence"), job(2, "Technical Program Manager", "B"),
            job(3, "Program Manager, Infrastructure", "C", body="technical infrastructure")]  # fmt: skip
    picks = rank_jobs(jobs, Preferences.of(roles=["technical program manager"]), WEIGHTS, NOW, 10)
    assert ids(picks) == [2, 3], "a release manager whose opening says technical and program is not close"
