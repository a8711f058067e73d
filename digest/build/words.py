"""Words as ranking reads them: lower case, compounds joined, stemmed (Snowball, through PyStemmer).

"Management" and "manager" both become ``manag``, "Back-End" and "backend" both ``backend``,
so a reader's "back-end engineer" finds "Backend Engineer". A few words whose stem would
collide with a role are kept whole: "production" is not "product", "development" not "developer".
"""

from __future__ import annotations

import re
from functools import lru_cache

import Stemmer

_STEMMER = Stemmer.Stemmer("english")
_COMPOUNDS = [
    (re.compile(r"\bback[\s-]?end\b"), "backend"),
    (re.compile(r"\bfront[\s-]?end\b"), "frontend"),
    (re.compile(r"\bfull[\s-]?stack\b"), "fullstack"),
    (re.compile(r"\bserver[\s-]side\b"), "backend"),
    (re.compile(r"\bui\s*/\s*ux\b|\bux\s*/\s*ui\b"), "ux ui"),
    (re.compile(r"\bvice[\s-]president\b"), "vp"),
    (re.compile(r"\bsr\b\.?"), "senior"),
]
_KEEP = {  # words whose Snowball stem would be another role's
    "production": "production", "productions": "production", "productivity": "productivity",
    "development": "development", "developments": "development", "programme": "program",
    "programmes": "program", "programming": "programming",  # a Programming Languages PM is no program manager
    "techncial": "technic",  # a typo seen in a real posting
}  # fmt: skip
STOPWORDS = frozenset({
    "a", "an", "and", "the", "of", "for", "in", "at", "to", "with", "on", "or", "by", "from", "as", "our",
    "your", "we", "you", "is", "are", "be",
})  # fmt: skip
_TOKEN = re.compile(r"c\+\+|c#|\.net|[^\W_]+")  # letters of any script: "Diseñador" is one word


def normalise(text: str) -> str:
    text = text.lower()
    for pattern, replacement in _COMPOUNDS:
        text = pattern.sub(replacement, text)
    return text


@lru_cache(maxsize=100_000)
def stems(text: str) -> tuple[str, ...]:
    """The stemmed words of ``text``, in order, stop words left out."""
    words = [w for w in _TOKEN.findall(normalise(text)) if w not in STOPWORDS]
    return tuple(_KEEP.get(w) or _stem(w) for w in words)


@lru_cache(maxsize=50_000)
def _stem(word: str) -> str:
    return str(_STEMMER.stemWord(word))


def contains(haystack: tuple[str, ...], needle: tuple[str, ...]) -> bool:
    """Whether ``needle`` occurs in ``haystack`` as consecutive words."""
    n = len(needle)
    if not n:
        return False
    first = needle[0]
    return any(haystack[i] == first and haystack[i : i + n] == needle for i in range(len(haystack) - n + 1))
