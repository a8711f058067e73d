"""A posting's stated pay read against its level: the marketplace's 2026 table of base pay
(DESIGN.md domain notes). US: TPM 150-180k, senior 180-220k, staff/principal 220-280k;
UK roughly 60-70% of that: 80-110k, 110-150k, 150-200k. A range whose middle reaches the
level's band is in line; one well under it (below 85% of the band's floor) is below."""

from __future__ import annotations

from dataclasses import dataclass

from digest.build.roles import LEVEL_NAMES

BANDS: dict[str, dict[int, tuple[int, int]]] = {  # currency -> level rank -> (low, high) base
    "USD": {1: (150_000, 180_000), 2: (180_000, 220_000), 3: (220_000, 280_000)},
    "GBP": {1: (80_000, 110_000), 2: (110_000, 150_000), 3: (150_000, 200_000)},
}
BELOW = 0.85
YEARLY = (10_000, 2_000_000)  # what a year's base pay can be: smaller is hourly or monthly, larger a typo
CURRENCIES = {"US$": "USD", "$": "USD", "£": "GBP"}


@dataclass(frozen=True)
class PayVerdict:
    score: float  # +1 in line, -1 below, 0 no verdict
    words: str


def verdict(level: int | None, low: int | None, high: int | None, currency: str | None) -> PayVerdict:
    """What a product posting's range says for its level (a posting without a level is read as
    mid). Only a yearly range in US dollars or pounds gets a verdict: an hourly or monthly rate,
    a range upside down or a figure out of all proportion gets none ("Salary listed")."""
    rank = 1 if level is None else level
    code = (currency or "").strip().upper()
    band = BANDS.get(CURRENCIES.get(code, code), {}).get(rank)
    low, high = (low, high or low) if low is not None else (high, high)
    if band is None or low is None or high is None or low > high:
        return PayVerdict(0.0, "")
    if not (YEARLY[0] <= low and high <= YEARLY[1]):
        return PayVerdict(0.0, "")
    middle = (low + high) / 2
    name = LEVEL_NAMES[rank]
    if middle >= band[0]:
        return PayVerdict(1.0, f"pay in line for {name} level")
    if middle < BELOW * band[0]:
        return PayVerdict(-1.0, f"pay below the usual {name} range")
    return PayVerdict(0.0, "")
