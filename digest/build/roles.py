"""A role model for product people: which family a posting's title (or a profile's headline)
belongs to, the near misses that are not product roles, and the level it is at.

Families: product manager, technical product manager (a product manager on a technical
product: "Product Manager (Technical)", "Senior Product Manager, Azure HPC & AI"), product
designer, product operations, product leadership. Near misses look alike but are other jobs:
program and project managers (so "Technical Program Manager" is never a TPM), product
marketing, product success or support, product sales, product engineers, production roles.
An acronym (TPM, PM, CPO) counts only when its context agrees: "TPM" next to "program" is a
program manager. Pure functions over words (``digest.build.words``); no database here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from digest.build.words import contains, stems

PM, TPM, DESIGNER, OPERATIONS, LEADERSHIP, DESIGN = (
    "product manager", "technical product manager", "product designer", "product operations",
    "product leadership", "design",
)  # fmt: skip
PRODUCT_FAMILIES = (PM, TPM, DESIGNER, OPERATIONS, LEADERSHIP)  # what the newsletter is about

_PHRASES: dict[str, tuple[str, ...]] = {
    TPM: ("technical product manager", "product manager technical", "technical pm", "technical product owner"),
    PM: ("product manager", "product management", "product owner", "product lead", "product strategy"),
    DESIGNER: ("product designer", "product design", "ux designer", "ui designer", "ux ui designer", "ux ui",
               "interaction designer", "experience designer", "service designer"),
    OPERATIONS: ("product operations", "product ops", "prodops"),
    LEADERSHIP: ("head of product", "director of product", "product director", "vp product", "chief product officer",
                 "group product manager"),
    DESIGN: ("graphic designer", "visual designer", "web designer", "brand designer", "ux researcher",
             "user researcher", "ux engineer", "design intern", "content designer"),
}  # fmt: skip
# Reader's words for a family (besides its name and phrases).
_ALIASES: dict[str, str] = {
    "pm": PM, "tpm": TPM, "product management": PM, "ux": DESIGNER, "ux designer": DESIGNER,
    "ui/ux designer": DESIGNER, "designer": DESIGNER, "design": DESIGNER, "product ops": OPERATIONS,
    "head of product": LEADERSHIP, "director of product": LEADERSHIP, "vp product": LEADERSHIP,
    "cpo": LEADERSHIP, "product leader": LEADERSHIP, "product director": LEADERSHIP, "leadership": LEADERSHIP,
}  # fmt: skip
NEAR_MISSES: tuple[str, ...] = (
    "program manager", "project manager", "programme manager", "program management", "project management",
    "product marketing", "product marketer", "product success", "product support", "product sales",
    "product specialist", "product analyst", "product engineer", "product quality", "production",
    "game designer", "level designer", "technical designer", "release manager",
)  # fmt: skip
# Words that make a product manager's product a technical one.
TECHNICAL = frozenset(stems(
    "technical api apis sdk platform infrastructure cloud hpc kubernetes cuda gpu ai ml data security payments "
    "integrations devops observability libraries computing software engineering backend quantum developer "
    "machine learning"
))  # fmt: skip
_LEADING = frozenset(stems("head director vp chief cpo"))
_RELATED: dict[str, tuple[str, ...]] = {  # a reader's family -> families that fill when matches run out
    PM: (LEADERSHIP, OPERATIONS),
    TPM: (PM,),
    DESIGNER: (DESIGN,),
    OPERATIONS: (),  # product managers are not what a product ops reader looks for
    LEADERSHIP: (PM, TPM, OPERATIONS),  # senior and above only: see related()
}
_PARENS = re.compile(r"\([^)]*\)|\[[^\]]*\]")

LEVELS = {  # words -> rank: 0 junior, 1 mid, 2 senior, 3 staff/principal, 4 director
    "intern": 0, "junior": 0, "jr": 0, "associate": 0, "entry": 0, "graduate": 0,
    "l4": 1, "ic4": 1, "mid": 1, "midweight": 1, "ii": 1,
    "senior": 2, "l5": 2, "ic5": 2, "lead": 2, "iii": 2,
    "staff": 3, "principal": 3, "l6": 3, "ic6": 3, "l7": 3, "ic7": 3, "distinguished": 3,
    "director": 4, "head": 4, "vp": 4, "chief": 4,
}  # fmt: skip
LEVEL_NAMES = {0: "junior", 1: "mid", 2: "senior", 3: "staff/principal", 4: "director"}
_LEVEL_STEMS = {stems(word)[0]: rank for word, rank in LEVELS.items()}


@dataclass(frozen=True)
class RoleOf:
    """What a title says: its families, a near miss, families named only in passing, its level."""

    families: frozenset[str]
    near_miss: str = ""
    mentioned: frozenset[str] = frozenset()  # "(Product management experience required)"
    level: int | None = None

    @property
    def product(self) -> bool:
        return any(f in PRODUCT_FAMILIES for f in self.families)


def _phrases(family: str) -> tuple[tuple[str, ...], ...]:
    return tuple(stems(p) for p in _PHRASES[family])


_FAMILY_STEMS = {family: _phrases(family) for family in _PHRASES}
_NEAR_STEMS = tuple((phrase, stems(phrase)) for phrase in NEAR_MISSES)


def phrases_of(family: str) -> tuple[tuple[str, ...], ...]:
    """A family's names as stemmed phrases: its own, its phrases, and readers' longer words for it."""
    aliases = tuple(stems(a) for a, f in _ALIASES.items() if f == family and len(a.split()) > 1)
    return tuple(dict.fromkeys((stems(family), *_FAMILY_STEMS[family], *aliases)))


def _families_in(words: tuple[str, ...]) -> set[str]:
    return {f for f, phrases in _FAMILY_STEMS.items() if any(contains(words, p) for p in phrases)}


@lru_cache(maxsize=50_000)
def classify(title: str, context: str = "") -> RoleOf:
    """The role a posting's ``title`` names; ``context`` (its description) settles acronyms.
    A near miss's words are taken out before the families are read: "Head of Product
    Marketing" is product marketing, not a head of product."""
    head = stems(_PARENS.sub(" ", title))
    whole = stems(title)
    found = next(((phrase, words) for phrase, words in _NEAR_STEMS if contains(head, words)), None)
    near = found[0] if found else ""
    rest = _without(head, found[1]) if found else head
    families = _families_in(rest)
    context_words = stems(context) if context else ()
    if "tpm" in head and _program_context(whole, context_words):
        near = near or "program manager"
    else:
        _acronyms(head, whole, set(context_words), families)
    if _leads_product(rest):
        families.add(LEADERSHIP)
    if LEADERSHIP in families:
        families -= {PM, TPM}
    if PM in families and TECHNICAL & set(whole):
        families.add(TPM)
    said = _without(whole, found[1]) if found else whole
    mentioned = frozenset(_families_in(said) - families) | (frozenset({PM}) if contains(head, ("product", "strategi"))
                                                            else frozenset())  # fmt: skip
    return RoleOf(frozenset(families), near, mentioned, level_of(_level_words(whole, families)))


def _level_words(whole: tuple[str, ...], families: set[str]) -> tuple[str, ...]:
    """The words that can name a level: "head" or "chief" does only where a title names its
    rank (first or last, or before "product"), not in "Product Manager, Head-Mounted Displays"."""
    if LEADERSHIP in families:
        return whole
    last = len(whole) - 1
    return tuple(w for i, w in enumerate(whole)
                 if w not in _LEADING or i in (0, last) or "product" in whole[i + 1 : i + 3])  # fmt: skip


def _without(words: tuple[str, ...], phrase: tuple[str, ...]) -> tuple[str, ...]:
    """``words`` with the first occurrence of ``phrase`` taken out."""
    n = len(phrase)
    at = next(i for i in range(len(words) - n + 1) if words[i : i + n] == phrase)
    return words[:at] + words[at + n :]


def _leads_product(words: tuple[str, ...]) -> bool:
    """A head, director, VP or chief of product: the title word comes just before "product"
    ("Head of Product", "VP, Product"), never after it ("Product Manager, Head-Mounted Displays")."""
    return any(word in _LEADING and "product" in words[i + 1 : i + 3] for i, word in enumerate(words))


def _program_context(whole: tuple[str, ...], context: tuple[str, ...]) -> bool:
    """Whether "TPM" here means a technical program manager: the title says program or project,
    or the description speaks of programs more than of products."""
    if {"program", "programm", "project"} & set(whole):
        return True
    programs = sum(w in ("program", "project") for w in context)
    return programs > 0 and programs >= sum(w == "product" for w in context)


def _acronyms(head: tuple[str, ...], whole: tuple[str, ...], context: set[str], families: set[str]) -> None:
    """TPM, PM and CPO count when their context agrees, never next to program or project."""
    if {"program", "programm", "project"} & set(whole):
        return
    product_context = "product" in context or "product" in whole
    if "tpm" in head and (product_context or TECHNICAL & (set(whole) | context)):
        families.add(TPM)
    if "pm" in head and product_context:
        families.add(PM)
    if "cpo" in head and product_context:
        families.add(LEADERSHIP)


def level_of(words: tuple[str, ...]) -> int | None:
    """The highest level a title names (L5 and IC5 are senior, L6/L7 staff/principal), or None."""
    found = [_LEVEL_STEMS[w] for w in words if w in _LEVEL_STEMS]
    return max(found) if found else None


def reader_level(seniority: str) -> int | None:
    return level_of(stems(seniority)) if seniority else None


@lru_cache(maxsize=4096)
def family_of(role: str) -> str | None:
    """The family a reader's role names ("tpm", "UX designer", "head of product"), or None for
    free text ("back-end engineer", "payments")."""
    text = " ".join(role.lower().split())
    if text in _ALIASES:  # first: a reader's "design" means product design
        return _ALIASES[text]
    if text in _PHRASES:
        return text
    words = stems(text)
    for family in (TPM, LEADERSHIP, OPERATIONS, DESIGNER, PM):
        if words == stems(family) or any(words == p for p in _FAMILY_STEMS[family]):
            return family
    return None


def related(reader_family: str, role: RoleOf) -> str | None:
    """The family that makes a posting a related pick for a reader of ``reader_family``, or None."""
    if reader_family in role.mentioned:
        return reader_family
    if role.near_miss and not role.families:
        return None
    named = role.families | role.mentioned  # "Senior Product Strategy Lead" is near a product manager
    for family in _RELATED.get(reader_family, ()):
        if family in named:
            if reader_family == LEADERSHIP and (role.level or 0) < 2:
                continue
            return family
    return None


def exact(reader_family: str, role: RoleOf) -> bool:
    """A posting of the reader's family (a technical product manager is a product manager too)."""
    return reader_family in role.families or (reader_family == PM and TPM in role.families)
