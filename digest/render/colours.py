"""The accent colour's tint for dark mode (the configuration checks its contrast on white)."""

from __future__ import annotations

from digest.config import MIN_CONTRAST, contrast

WHITE = "#ffffff"
DARK_CARD = "#181b21"  # the container's colour in dark mode (email.css)


def tint(colour: str, towards: str = WHITE, share: float = 0.5) -> str:
    """``colour`` moved ``share`` of the way to ``towards``."""
    pairs = zip(
        (int(colour[i : i + 2], 16) for i in (1, 3, 5)), (int(towards[i : i + 2], 16) for i in (1, 3, 5)), strict=True
    )
    return "#" + "".join(f"{round(c + (t - c) * share):02x}" for c, t in pairs)


def dark_mode_accent(colour: str) -> str:
    """The least-lightened tint of the accent that reads on the dark card (text and links)."""
    for step in range(11):
        candidate = tint(colour, share=step / 10)
        if contrast(candidate, DARK_CARD) >= MIN_CONTRAST:
            return candidate
    return WHITE
