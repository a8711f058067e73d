"""A reader's free text read as roles, topics and a level; places read as countries."""

from __future__ import annotations

import pytest

from digest.build.places import covers, where
from digest.build.reading import PRODUCT_SCOPE, read_scope, read_terms
from digest.build.roles import PRODUCT_FAMILIES
from digest.config import PRODUCT_FAMILIES as CONFIG_FAMILIES
from digest.preferences import SENIORITIES, UnknownLevel, seniority_of


@pytest.mark.parametrize(("terms", "read"), [
    (["technical product manager", "api", "platform"], "roles: technical product manager; topics: api, platform"),
    (["tpm", "ai", "machine learning"], "roles: technical product manager; topics: ai, machine learning"),
    (["senior product designer", "design systems"], "roles: product designer; topics: design systems; level: senior"),
    (["fintech", "payments"], "topics: fintech, payments"),
    (["head of product", "vp product"], "roles: product leadership"),
    (["associate product manager"], "roles: product manager; level: junior"),
    (["data product manager", "analytics"], "roles: data product manager; topics: analytics"),
    (["senior backend engineer", "python"], "roles: backend engineer; topics: python; level: senior"),
    (["ux researcher", "user research"], "roles: ux researcher; topics: user research"),
    (["sr. pm, fintech/payments"], "roles: product manager; topics: fintech, payments; level: senior"),
    (["ui/ux designer"], "roles: product designer"),
    (["program manager"], "roles: program manager"),  # a near miss is a role of its own, asked for
    (["product ops"], "roles: product operations"),
    (["design"], "roles: product designer"),  # a reader's "design" means product design
    (["the", "🚀"], ""),  # stop words and symbols say nothing
    (["senior"], "level: senior"),
    (["head of design"], "roles: head of design"),  # a rank and a field: a job of its own, not "of design"
    (["Product Manager (Payments)"], "roles: product manager; topics: payments"),
    (["senior product manager - payments"], "roles: product manager; topics: payments; level: senior"),
    (["product manager for b2b saas"], "roles: product manager; topics: b2b saas"),
    (["product designer who loves design systems"], "roles: product designer; topics: design systems"),
    (["entry level pm"], "roles: product manager; level: junior"),
    (["backend engineer in fintech"], "roles: backend engineer; topics: fintech"),
    (["apm"], "roles: product manager; level: junior"),
    (["r&d"], ""),  # single letters say nothing
])  # fmt: skip
def test_terms_are_read_as_people_write_them(terms: list[str], read: str) -> None:
    assert read_terms(terms).describe() == read


def test_the_reading_travels_as_json() -> None:
    found = read_terms(["senior product designer", "design systems"]).to_json()
    assert found == {"roles": ["product designer"], "topics": ["design systems"], "level": "senior"}
    assert read_terms([]).to_json() == {"roles": [], "topics": []}


def test_the_scope_takes_roles_and_refuses_topics() -> None:
    assert read_scope([]) == PRODUCT_SCOPE
    assert [r.label for r in read_scope(["Product Manager", "backend engineer"])] == ["product manager",
                                                                                      "backend engineer"]  # fmt: skip
    with pytest.raises(ValueError, match="'api' is a topic, not a role"):
        read_scope(["product manager", "api"])
    with pytest.raises(ValueError, match="a level is not a role"):
        read_scope(["senior"])
    assert "level" not in read_terms(["senior product designer"], seniority="junior").to_json(), (
        "a level chosen from the list wins over one said in a role, wherever the reading is shown"
    )
    assert CONFIG_FAMILIES == PRODUCT_FAMILIES, "the config's default scope is the role model's product families"


@pytest.mark.parametrize(("typed", "level"), [
    ("Senior", "senior"), ("sr.", "senior"), ("L5", "senior"), ("IC6", "staff"), ("l7", "principal"), ("Lead", "senior"),
    ("Mid-level", "mid"), ("intern", "junior"), ("VP", "director"), ("", ""), ("  Staff ", "staff"),
])  # fmt: skip
def test_levels_come_from_one_list(typed: str, level: str) -> None:
    assert seniority_of(typed) == level
    assert level == "" or level in SENIORITIES


@pytest.mark.parametrize("typed", ["godlike", "ninja", "senior staff wizard", "L9"])
def test_an_unknown_level_is_refused_with_the_allowed_ones(typed: str) -> None:
    with pytest.raises(UnknownLevel) as found:
        seniority_of(typed)
    assert "junior, mid, senior, staff, principal, director" in str(found.value)


@pytest.mark.parametrize(("text", "countries"), [
    ("London UK", {"GB"}),
    ("Santa Clara CA USA", {"US"}),
    ("Toronto ON CA", {"CA"}),  # a province before CA: Canada
    ("Riverside, CA", {"US"}),  # CA alone: California
    ("Munich DE", {"DE"}),
    ("MD or DE or VA USA", {"US"}),  # DE after a state: Delaware
    ("Cambridge MA USA", {"US"}),  # a city's name counts only where no country is named
    ("Berlin", {"DE"}),
    ("Various NL or UK", {"GB", "NL"}),
    ("Newark, New Jersey", {"US"}),
])  # fmt: skip
def test_places_are_read_as_postings_write_them(text: str, countries: set[str]) -> None:
    assert where(text).countries == countries


def test_a_place_covers_what_is_there_or_open_to_it() -> None:
    assert covers("uk", "Manchester UK", remote=False)
    assert not covers("london", "Manchester UK", remote=False), "a city is that city on site"
    assert covers("london", "Europe Only", remote=True), "remote in Europe is open to London"
    assert not covers("london", "Remote - EU", remote=True), "the EU is not the UK"
    assert covers("europe", "Berlin, Germany", remote=False)
    assert covers("europe", "Anywhere in the World", remote=True)
    assert not covers("europe", "Anywhere in the World", remote=False)
    assert not covers("europe", "USA Only", remote=True)
    assert covers("emea", "Remote, Italy", remote=True)
    assert where("Europe Only").countries >= {"GB", "DE", "FR", "PL"}
    assert covers("nyc", "New York, NY", remote=False) and covers("new york", "NYC", remote=False)
    assert covers("bay area", "San Francisco, CA", remote=False) and covers("bay area", "Palo Alto", remote=False)
    assert covers("remote", "Anywhere in the World", remote=True) and not covers("remote", "London", remote=False)
    assert where("Tbilisi, Georgia").countries == {"GE"} and where("Jersey City, NJ").countries == {"US"}
    assert where("Toronto OR Montreal").countries == {"CA"} and where("Gdańsk").countries == {"PL"}
