"""Signed, opaque tokens for links in emails (unsubscribe, resubscribe, confirm).

A token is 44 URL-safe characters: the ids (packed, not readable as an address) and an
HMAC-SHA256 over the purpose and the ids. The purpose is bound into the MAC, so a token
made for one purpose is refused for another. Several keys may be given: the first signs,
all verify (rotation). Tokens do not expire: an unsubscribe link must work for ever."""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from digest.db import session_scope
from digest.errors import DigestError
from digest.models import Setting

PURPOSES = {"unsubscribe": b"U", "resubscribe": b"R", "confirm": b"C"}
_IDS = struct.Struct(">QQ")
MAC_BYTES = 16
GENERATED_KEY = "secret_key"


class BadToken(DigestError):
    """A token that is damaged, forged, or made for another purpose."""


@dataclass(frozen=True)
class Signer:
    keys: tuple[bytes, ...]

    @classmethod
    def from_keys(cls, keys: Sequence[str]) -> Signer:
        if not keys:
            raise ValueError("at least one key is needed")
        return cls(tuple(k.encode() for k in keys))

    def _mac(self, key: bytes, purpose: str, packed: bytes) -> bytes:
        return hmac.digest(key, PURPOSES[purpose] + packed, "sha256")[:MAC_BYTES]

    def sign(self, purpose: str, subscriber_id: int, issue_id: int = 0) -> str:
        packed = _IDS.pack(subscriber_id, issue_id)
        raw = packed + self._mac(self.keys[0], purpose, packed)
        return _encode(raw)

    def verify(self, purpose: str, token: str) -> tuple[int, int]:
        """(subscriber_id, issue_id) when the token is genuine; BadToken otherwise."""
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (binascii.Error, ValueError):
            raise BadToken("damaged link") from None
        if len(raw) != _IDS.size + MAC_BYTES or purpose not in PURPOSES or _encode(raw) != token:
            raise BadToken("damaged link")  # only the one spelling sign() gives: no padding, no spare bits
        packed, mac = raw[: _IDS.size], raw[_IDS.size :]
        valid = [hmac.compare_digest(mac, self._mac(key, purpose, packed)) for key in self.keys]
        if not any(valid):
            raise BadToken("this link is not valid")
        subscriber_id, issue_id = _IDS.unpack(packed)
        return int(subscriber_id), int(issue_id)


def signer_for(engine: Engine, configured: Sequence[str]) -> Signer:
    """The configured keys (DIGEST_SECRET_KEY), or a random key generated once and kept in the
    database, so a fresh install signs its links without any set-up."""
    if configured:
        return Signer.from_keys(configured)
    with session_scope(engine) as session:
        stored = session.get(Setting, GENERATED_KEY)
        if stored is not None:
            return Signer.from_keys([stored.value])
    try:
        with session_scope(engine) as session:
            session.add(Setting(key=GENERATED_KEY, value=secrets.token_urlsafe(32)))
    except IntegrityError:
        pass  # another process generated it first
    with session_scope(engine) as session:
        found = session.get(Setting, GENERATED_KEY)
        assert found is not None
        return Signer.from_keys([found.value])


def _encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")
