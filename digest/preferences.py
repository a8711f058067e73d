"""A reader's preferences, and the segment key that readers with equal preferences share."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from functools import cached_property
from typing import Any

AUDIENCES = ("jobs", "people", "both")


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
