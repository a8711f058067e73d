"""A reader's public id: what links and Message-IDs name instead of the row id."""

from __future__ import annotations

import re
import secrets

PUBLIC_ID = re.compile(r"[0-9a-f]{32}")
SAMPLE_PUBLIC_ID = "0" * 32  # previews and test copies: their links name no reader, and say so


def new_public_id() -> str:
    """128 random bits as 32 lower-case hex characters: says nothing of list order or size,
    and reads the same in any letter case (a VERP address may be folded)."""
    return secrets.token_hex(16)
