"""A reader's preferences, and the segment key that readers with equal preferences share."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from functools import cached_property
from typing import Any

AUDIENCES = ("jobs", "people", "both")
# The levels a reader may choose, lowest first: one list for import, --pref, the form and the API.
SENIORITIES = ("junior", "mid", "senior", "staff", "principal", "director")
# Other spellings readers and postings use, and the families' own ladders (L4-L7, IC4-IC7).
SENIORITY_SPELLINGS = {
    "intern": "junior", "entry": "junior", "entry level": "junior", "entry-level": "junior", "graduate": "junior",
    "associate": "junior", "jr": "junior", "jr.": "junior",
    "mid-level": "mid", "mid level": "mid", "midweight": "mid", "intermediate": "mid", "l4": "mid", "ic4": "mid",
    "sr": "senior", "sr.": "senior", "l5": "senior", "ic5": "senior", "lead": "senior",
    "l6": "staff", "ic6": "staff", "l7": "principal", "ic7": "principal",
    "head": "director", "head of": "director", "vp": "director", "vice president": "director", "executive": "director",
}  # fmt: skip


class UnknownLevel(ValueError):
    """A seniority that is none of SENIORITIES (nor one of their other spellings)."""

    def __init__(self, value: str) -> None:
        super().__init__(
            f"{value!r} is not a level; use one of {', '.join(SENIORITIES)} (or L4-L7, IC4-IC7), or leave it empty"
        )
        self.value = value


def seniority_of(value: str) -> str:
    """The level ``value`` names, spelled as in SENIORITIES ("Sr." and "L5" are "senior"); ""
    for none. Anything else is UnknownLevel, which names the levels allowed."""
    text = " ".join((value or "").lower().split())
    if not text or text in SENIORITIES:
        return text
    found = SENIORITY_SPELLINGS.get(text)
    if found is None:
        raise UnknownLevel(value)
    return found


def _terms(values: Iterable[str]) -> tuple[str, ...]:
    cleaned = (" ".join(str(v).lower().split()) for v in values)
    return tuple(sorted({v for v in cleaned if v}))


@dataclass(frozen=True)
class Preferences:
    roles: tuple[str, ...] = ()
    locations: tuple[str, ...] = ()
    remote: bool | None = None
    seniority: str = ""
    audience: str = "both"

    @classmethod
    def of(
        cls,
        roles: Iterable[str] = (),
        locations: Iterable[str] = (),
        remote: bool | None = None,
        seniority: str = "",
        audience: str = "both",
    ) -> Preferences:
        """Normalised: lower case, sorted, no duplicates, so equal wishes give equal keys."""
        audience = (audience or "both").strip().lower()
        return cls(
            roles=_terms(roles),
            locations=_terms(locations),
            remote=remote,
            seniority=" ".join((seniority or "").lower().split()),
            audience=audience if audience in AUDIENCES else "both",
        )

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Preferences:
        return cls.of(
            data.get("roles") or (),
            data.get("locations") or (),
            data.get("remote"),
            data.get("seniority") or "",
            data.get("audience") or "both",
        )

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["roles"], data["locations"] = list(self.roles), list(self.locations)
        return data

    @cached_property
    def key(self) -> str:
        blob = json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:32]

    @property
    def wants_jobs(self) -> bool:
        return self.audience in ("jobs", "both")

    @property
    def wants_people(self) -> bool:
        return self.audience in ("people", "both")
