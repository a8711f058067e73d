"""Places as readers type them and postings write them: which countries a place covers.

A reader types "London", "UK", "United States", "Europe" or "EMEA"; postings write "London UK",
"Santa Clara CA USA", "Toronto ON CA", "Remote - Europe Only", "Anywhere in the World". A
reader's place is read as a city, a country or a region (a set of countries); a posting's place
as the countries it names or implies (by a country's name or code, a US state or Canadian
province code, a city) and the regions it names, and whether it is open anywhere. Country codes
are ISO 3166-1 (pycountry's names); regions and cities are this module's own short tables.
Pure functions; no database here.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import pycountry

_EU = "AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE"
_EUROPE = _EU + " GB NO CH IS LI UA RS BA ME MK AL MD BY XK AD MC SM GI"
_MIDDLE_EAST = "AE SA QA KW BH OM IL JO LB TR EG IQ IR YE PS SY"
_AFRICA = (
    "DZ AO BJ BW BF BI CM CV CF TD KM CG CD CI DJ EG GQ ER SZ ET GA GM GH GN GW KE LS LR LY MG MW ML MR MU MA MZ "
    "NA NE NG RW ST SN SC SL SO ZA SS SD TZ TG TN UG ZM ZW"
)
_NORTH_AMERICA = "US CA MX"
_LATAM = "MX GT BZ HN SV NI CR PA CU DO HT JM PR TT BB BS AR BO BR CL CO EC GY PY PE SR UY VE"
_ASIA = "CN JP KR KP TW HK MO MN IN PK BD LK NP BT MV SG MY ID TH VN PH KH LA MM BN TL KZ UZ KG TJ TM AF"
_OCEANIA = "AU NZ FJ PG WS TO VU SB"
REGIONS: dict[str, frozenset[str]] = {
    name: frozenset(" ".join(codes).split())
    for name, codes in {
        "europe": (_EUROPE,), "eu": (_EU,), "european union": (_EU,), "emea": (_EUROPE, _MIDDLE_EAST, _AFRICA),
        "middle east": (_MIDDLE_EAST,), "africa": (_AFRICA,), "americas": (_NORTH_AMERICA, _LATAM),
        "north america": (_NORTH_AMERICA,), "latin america": (_LATAM,), "latam": (_LATAM,),
        "south america": (_LATAM,), "apac": (_ASIA, _OCEANIA), "asia": (_ASIA,), "asia pacific": (_ASIA, _OCEANIA),
        "oceania": (_OCEANIA,), "nordics": ("DK FI IS NO SE",), "dach": ("DE AT CH",), "benelux": ("BE NL LU",),
    }.items()
}  # fmt: skip
_ANYWHERE = re.compile(r"\b(?:anywhere|worldwide|world ?wide|global(?:ly)?|international)\b")
_COUNTRY_WORDS = {  # spellings pycountry does not know
    "uk": "GB", "u.k.": "GB", "britain": "GB", "great britain": "GB", "england": "GB", "scotland": "GB", "wales": "GB",
    "northern ireland": "GB", "us": "US", "u.s.": "US", "usa": "US", "u.s.a.": "US", "america": "US",
    "united states of america": "US", "south korea": "KR", "korea": "KR", "russia": "RU", "vietnam": "VN",
    "czechia": "CZ", "czech republic": "CZ", "holland": "NL", "turkey": "TR", "deutschland": "DE", "uae": "AE",
    "taiwan": "TW", "iran": "IR", "bolivia": "BO", "venezuela": "VE", "tanzania": "TZ", "moldova": "MD",
}  # fmt: skip
_CITIES = {  # the places postings and readers name most, beyond countries
    "london": "GB", "manchester": "GB", "edinburgh": "GB", "glasgow": "GB", "bristol": "GB", "cambridge": "GB",
    "oxford": "GB", "leeds": "GB", "birmingham": "GB", "belfast": "GB", "dublin": "IE", "berlin": "DE",
    "munich": "DE", "hamburg": "DE", "frankfurt": "DE", "amsterdam": "NL", "rotterdam": "NL", "paris": "FR",
    "lyon": "FR", "madrid": "ES", "barcelona": "ES", "lisbon": "PT", "porto": "PT", "milan": "IT", "rome": "IT",
    "zurich": "CH", "geneva": "CH", "vienna": "AT", "stockholm": "SE", "copenhagen": "DK", "oslo": "NO",
    "helsinki": "FI", "warsaw": "PL", "krakow": "PL", "gdansk": "PL", "prague": "CZ", "budapest": "HU",
    "bucharest": "RO", "athens": "GR", "tallinn": "EE", "tel aviv": "IL", "dubai": "AE", "new york": "US",
    "nyc": "US", "san francisco": "US", "bay area": "US", "seattle": "US", "boston": "US", "chicago": "US",
    "austin": "US", "los angeles": "US", "washington dc": "US", "denver": "US", "atlanta": "US", "toronto": "CA",
    "vancouver": "CA", "montreal": "CA", "ottawa": "CA", "waterloo": "CA", "calgary": "CA", "mexico city": "MX",
    "sao paulo": "BR", "são paulo": "BR", "buenos aires": "AR", "bogota": "CO", "bengaluru": "IN",
    "bangalore": "IN", "mumbai": "IN", "delhi": "IN", "hyderabad": "IN", "singapore": "SG", "tokyo": "JP",
    "seoul": "KR", "hong kong": "HK", "sydney": "AU", "melbourne": "AU", "brisbane": "AU", "auckland": "NZ",
    "cape town": "ZA", "lagos": "NG", "nairobi": "KE", "santa clara": "US", "san jose": "US", "palo alto": "US",
    "mountain view": "US", "sunnyvale": "US", "redmond": "US", "cupertino": "US", "menlo park": "US",
    "oakland": "US", "brooklyn": "US", "manhattan": "US", "sf": "US", "la": "US",
}  # fmt: skip
# A city's other names, and the places a reader's one takes in ("Bay Area": San Francisco ...).
_SAME_CITY = tuple(frozenset(names) for names in (
    ("new york", "nyc", "new york city", "manhattan", "brooklyn"),
    ("san francisco", "sf", "bay area", "san francisco bay area", "palo alto", "mountain view", "san jose",
     "oakland", "berkeley", "sunnyvale", "menlo park", "redwood city", "santa clara", "cupertino"),
    ("los angeles", "la"),
    ("bengaluru", "bangalore"),
    ("washington dc", "washington, dc", "dc"),
))  # fmt: skip
REMOTE_WORDS = frozenset({"remote", "anywhere", "worldwide", "remote only", "fully remote", "global"})
_US_STATE_NAMES = {
    name: "US"
    for name in (
        "alabama",
        "alaska",
        "arizona",
        "arkansas",
        "california",
        "colorado",
        "connecticut",
        "delaware",
        "florida",
        "hawaii",
        "idaho",
        "illinois",
        "indiana",
        "iowa",
        "kansas",
        "kentucky",
        "louisiana",
        "maine",
        "maryland",
        "massachusetts",
        "michigan",
        "minnesota",
        "mississippi",
        "missouri",
        "montana",
        "nebraska",
        "nevada",
        "new hampshire",
        "new jersey",
        "new mexico",
        "north carolina",
        "north dakota",
        "ohio",
        "oklahoma",
        "oregon",
        "pennsylvania",
        "rhode island",
        "south carolina",
        "south dakota",
        "tennessee",
        "texas",
        "utah",
        "vermont",
        "virginia",
        "washington",
        "west virginia",
        "wisconsin",
        "wyoming",
        "jersey city",  # (not the island)
        "new york city",
    )  # Georgia is left out: the country as often as the state (GA says the state)
} | {name: "CA" for name in ("ontario", "quebec", "british columbia", "alberta", "manitoba", "nova scotia")}
_US_STATES = frozenset(
    [
        "AL",
        "AK",
        "AZ",
        "AR",
        "CA",
        "CO",
        "CT",
        "DE",
        "DC",
        "FL",
        "GA",
        "HI",
        "ID",
        "IL",
        "IN",
        "IA",
        "KS",
        "KY",
        "LA",
        "ME",
        "MD",
        "MA",
        "MI",
        "MN",
        "MS",
        "MO",
        "MT",
        "NE",
        "NV",
        "NH",
        "NJ",
        "NM",
        "NY",
        "NC",
        "ND",
        "OH",
        "OK",
        "OR",
        "PA",
        "RI",
        "SC",
        "SD",
        "TN",
        "TX",
        "UT",
        "VT",
        "VA",
        "WA",
        "WV",
        "WI",
        "WY",
    ]
)
_PROVINCES = frozenset(["ON", "QC", "BC", "AB", "MB", "NS", "NB", "NL", "PE", "SK", "YT", "NT", "NU"])
_CODES_IN_POSTINGS = frozenset(
    [
        "UK",
        "GB",
        "US",
        "AU",
        "DE",
        "FR",
        "NL",
        "CH",
        "FI",
        "IE",
        "IL",
        "SG",
        "JP",
        "ES",
        "IT",
        "PL",
        "PT",
        "BR",
        "MX",
        "IN",
        "KR",
        "NZ",
        "CA",
    ]
)
_NOT_CODES = frozenset({"OR", "IN", "ME", "OK", "HI"})  # words as often as states: "Toronto OR Montreal"
_WORD = re.compile(r"[^\W_]+(?:[.'’][^\W_]+)*\.?")


@dataclass(frozen=True)
class Where:
    """What a place says: the countries it names or implies, and whether it is open anywhere."""

    countries: frozenset[str] = frozenset()
    anywhere: bool = False

    @property
    def known(self) -> bool:
        return bool(self.countries) or self.anywhere


@lru_cache(maxsize=1)
def _country_names() -> dict[str, str]:
    names: dict[str, str] = {}
    for country in pycountry.countries:
        for attribute in ("name", "common_name", "official_name"):
            value = getattr(country, attribute, None)
            if value:
                names[value.lower()] = country.alpha_2
    return names | _COUNTRY_WORDS


@lru_cache(maxsize=4096)
def where(text: str) -> Where:
    """The countries a posting's or a profile's place names or implies ("Toronto ON CA": CA;
    "Santa Clara CA USA": US; "Europe Only": every European country), and whether it says
    anywhere in the world. A city counts only where no country is named ("Cambridge MA USA"
    is not in England)."""
    lower = _plain(" ".join(text.lower().split()))
    words = [w.rstrip(".") for w in _WORD.findall(lower)]
    countries = _named(words, _country_names() | _US_STATE_NAMES) | _codes(text)
    if not countries:
        countries = _named(words, _CITIES)
    return Where(frozenset(countries), bool(_ANYWHERE.search(lower)))


def _named(words: list[str], names: dict[str, str]) -> set[str]:
    """Codes of the names (and regions) in ``words``, longest first, each word read once."""
    found: set[str] = set()
    used: set[int] = set()
    for n in (4, 3, 2, 1):
        for i in range(len(words) - n + 1):
            if used.intersection(range(i, i + n)):
                continue
            phrase = " ".join(words[i : i + n])
            codes = REGIONS.get(phrase) if names is not _CITIES else None
            code = names.get(phrase)
            if codes or code:
                found.update(codes or {code})  # type: ignore[arg-type]
                used.update(range(i, i + n))
    return found


def _codes(text: str) -> set[str]:
    """Two-letter codes as postings write them ("Toronto ON CA", "Austin TX", "Munich DE"): a
    province before CA makes it Canada, a US state code makes the place the US, but for a
    country's code alone (DE, IN, IL) after no other state."""
    tokens = [t for t in re.findall(r"\b[A-Z]{2}\b", text) if t not in _NOT_CODES]
    found: set[str] = set()
    for i, token in enumerate(tokens):
        before = tokens[i - 1] if i else ""
        canada = token == "CA" and (before in _PROVINCES or before == "US")  # "Toronto ON CA", "US/CA"
        if canada or (token in _PROVINCES and token not in _CODES_IN_POSTINGS):
            found.add("CA")
        elif token in _US_STATES and (token == "CA" or token not in _CODES_IN_POSTINGS or before in _US_STATES):
            found.add("US")  # "Riverside, CA" is California; "Munich DE" is Germany, "MD or DE" Delaware
        elif token in _CODES_IN_POSTINGS:
            found.add("GB" if token == "UK" else token)
    return found


@lru_cache(maxsize=4096)
def reader_place(place: str) -> Where:
    """What a reader's place covers: a country or region's countries; a city is matched by name
    and, for remote work, by its country."""
    return where(place)


def is_city(place: str) -> bool:
    return _plain(" ".join(place.lower().split())) in _CITIES


def _plain(text: str) -> str:
    """Without accents: "Gdańsk" is "gdansk", "São Paulo" "sao paulo"."""
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def _city_names(place: str) -> frozenset[str]:
    key = _plain(" ".join(place.lower().split()))
    return next((names for names in _SAME_CITY if key in names), frozenset({key}))


def _names_city(location: str, names: frozenset[str]) -> bool:
    text = _plain(location.lower())
    return any(re.search(rf"(?<![a-z]){re.escape(name)}(?![a-z])", text) for name in names)


def covers(reader: str, location: str, remote: bool) -> bool:
    """Whether a posting at ``location`` (remote or not) is in the reader's ``reader`` place:
    on site, in that city (or one it takes in: the Bay Area's), country or region; remote, open
    to it (anywhere, or a region or country that holds it). A reader's "remote" is any remote
    posting."""
    if " ".join(reader.lower().split()) in REMOTE_WORDS:
        return remote
    wanted, at = reader_place(reader), where(location)
    if is_city(reader) or _city_names(reader) != {_plain(" ".join(reader.lower().split()))}:
        named = _names_city(location, _city_names(reader))
        return named or (remote and (at.anywhere or bool(wanted.countries & at.countries)))
    if not wanted.countries:
        return False
    if remote and at.anywhere:
        return True
    return bool(wanted.countries & at.countries)
