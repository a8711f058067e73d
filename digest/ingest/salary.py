"""Salary ranges stated in text: "$150,000 - $180,000", "USD 150k–180k", "£80-110k"."""

from __future__ import annotations

import re
from dataclasses import dataclass

_SYMBOLS = {"$": "USD", "£": "GBP", "€": "EUR"}
_CODES = ("USD", "GBP", "EUR", "CAD", "AUD", "CHF", "SEK", "NOK", "DKK", "PLN", "INR", "JPY", "SGD", "NZD")
_NUMBER = r"(\d{1,3}(?:[,.\s]\d{3})+|\d+(?:\.\d+)?)\s*([kK])?"
_CURRENCY = r"(?:(" + "|".join(_CODES) + r")\s?|([$£€])\s?)"
_RANGE = re.compile(
    _CURRENCY + _NUMBER + r"\s*(?:-|–|—|to)\s*" + _CURRENCY + r"?" + _NUMBER,
    re.IGNORECASE,
)
_SINGLE = re.compile(_CURRENCY + _NUMBER + r"(?!\s*(?:/|per)\s*(?:h|hr|hour|day))", re.IGNORECASE)
LOWEST, HIGHEST = 10_000, 5_000_000  # a yearly salary; hourly rates and tiny numbers are ignored


@dataclass(frozen=True)
class Salary:
    low: int
    high: int
    currency: str


def _amount(digits: str, k: str | None) -> int:
    value = float(re.sub(r"[,.\s](?=\d{3}\b)", "", digits))
    return int(value * 1000) if k else int(value)


def parse_salary(text: str, *, single: bool = False) -> Salary | None:
    """The first yearly salary range in ``text`` (or single figure, when ``single``), or None.

    Single figures are read only from fields that hold a salary: in a description
    "$20,000 signing bonus" is not a salary."""
    if not text:
        return None
    for match in _RANGE.finditer(text):
        code, symbol, low, low_k, _code2, _symbol2, high, high_k = match.groups()
        currency = (code or _SYMBOLS.get(symbol or "", "")).upper()
        low_value = _amount(low, low_k or high_k)
        high_value = _amount(high, high_k)
        if LOWEST <= low_value <= high_value <= HIGHEST:
            return Salary(low_value, high_value, currency)
    for match in _SINGLE.finditer(text) if single else ():
        code, symbol, value, k = match.groups()
        amount = _amount(value, k)
        if LOWEST <= amount <= HIGHEST:
            return Salary(amount, amount, (code or _SYMBOLS.get(symbol or "", "")).upper())
    return None
