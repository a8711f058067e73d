"""Signed, opaque tokens for links in emails (unsubscribe, resubscribe, confirm, preferences,
view in browser), and the short-lived tokens of the forms on the pages those links open.

A token is 54 URL-safe characters: the reader's random public id (16 bytes, never the row
id: it says nothing of list order or size, and survives export, import and a move to
another database), the issue's id, and an HMAC-SHA256 over the purpose and both, cut to
16 bytes (128 bits). The purpose is bound into the MAC, so a token made for one purpose is
refused for another. Several keys may be given: the first signs and must be 32 bytes or
more; all verify (rotation). Tokens do not expire: an unsubscribe link must work for ever.

A return path's token (VERP, ``bounces+TOKEN@example.com``) names the same reader and issue
in 48 base32 characters of any letter case, since a relay may fold a local part: the public
id, a 4-byte issue id and a 10-byte MAC (80 bits) under its own purpose.

Links mailed before readers had public ids (43 characters, naming the row id) still verify;
they act only on a reader who existed when public ids came in (see ``digest.serve.links``)."""

from __future__ import annotations

import base64
import binascii
import hmac
import re
import secrets
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from digest.config import check_keys
from digest.db import session_scope
from digest.errors import BadToken
from digest.models import Setting

PURPOSES = {"unsubscribe": b"U", "resubscribe": b"R", "confirm": b"C", "preferences": b"P", "view": b"V"}
RETURN = b"B"  # a return path's MAC: never a link's
MESSAGE = b"M"  # a Message-ID's MAC
_RETURN_IDS = struct.Struct(">16sI")  # public id, issue id
_RETURN_MAC = 10
_BASE32 = re.compile(r"[a-z2-7]{48}")
FORM = b"F"  # a form token's MAC: never a link's
FORM_LIFETIME = 24 * 3600  # a form filled in within a day of opening it
_SECONDS = re.compile(r"[0-9]{1,12}")
_IDS = struct.Struct(">16sQ")  # public id, issue id
_LEGACY_IDS = struct.Struct(">QQ")  # row id, issue id: links mailed before public ids
MAC_BYTES = 16
GENERATED_KEY = "secret_key"


@dataclass(frozen=True)
class Link:
    """What a genuine token names: a reader (by public id, or by row id for a legacy link) and an issue."""

    public_id: str | None
    issue_id: int
    legacy_row_id: int | None = None


@dataclass(frozen=True)
class Signer:
    keys: tuple[bytes, ...]

    @classmethod
    def from_keys(cls, keys: Sequence[str]) -> Signer:
        if not keys:
            raise ValueError("at least one key is needed")
        check_keys(keys)
        return cls(tuple(k.encode() for k in keys))

    def _mac(self, key: bytes, purpose: str, packed: bytes) -> bytes:
        return hmac.digest(key, PURPOSES[purpose] + packed, "sha256")[:MAC_BYTES]

    def sign(self, purpose: str, public_id: str, issue_id: int = 0) -> str:
        packed = _IDS.pack(bytes.fromhex(public_id), issue_id)
        return _encode(packed + self._mac(self.keys[0], purpose, packed))

    def verify(self, purpose: str, token: str) -> Link:
        """The link a genuine token names; BadToken otherwise."""
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (binascii.Error, ValueError):
            raise BadToken("damaged link") from None
        ids = _IDS if len(raw) == _IDS.size + MAC_BYTES else _LEGACY_IDS
        if len(raw) != ids.size + MAC_BYTES or purpose not in PURPOSES or _encode(raw) != token:
            raise BadToken("damaged link")  # only the one spelling sign() gives: no padding, no spare bits
        packed, mac = raw[: ids.size], raw[ids.size :]
        valid = [hmac.compare_digest(mac, self._mac(key, purpose, packed)) for key in self.keys]
        if not any(valid):
            raise BadToken("this link is not valid")
        reader, issue_id = ids.unpack(packed)
        if ids is _LEGACY_IDS:
            return Link(None, int(issue_id), legacy_row_id=int(reader))
        return Link(reader.hex(), int(issue_id))

    def return_token(self, public_id: str, issue_id: int) -> str:
        """The token of a VERP return path: 48 characters, a-z and 2-7."""
        packed = _RETURN_IDS.pack(bytes.fromhex(public_id), issue_id)
        mac = hmac.digest(self.keys[0], RETURN + packed, "sha256")[:_RETURN_MAC]
        return base64.b32encode(packed + mac).decode().lower()

    def verify_return(self, token: str) -> Link:
        """The reader and issue a genuine return-path token names, whatever its letter case; BadToken otherwise."""
        token = token.lower()
        if not _BASE32.fullmatch(token):
            raise BadToken("not a return-path token")
        raw = base64.b32decode(token.upper())
        packed, mac = raw[: _RETURN_IDS.size], raw[_RETURN_IDS.size :]
        macs = (hmac.digest(key, RETURN + packed, "sha256")[:_RETURN_MAC] for key in self.keys)
        if not any(hmac.compare_digest(mac, expected) for expected in macs):
            raise BadToken("this return-path token is not valid")
        reader, issue_id = _RETURN_IDS.unpack(packed)
        return Link(reader.hex(), int(issue_id))

    def message_tag(self, week: str, public_id: str, key: bytes | None = None) -> str:
        """The MAC a Message-ID carries (16 characters, a-z and 2-7), so a bounce report that
        cites one is known to cite a message we made, not one guessed from a public id."""
        mac = hmac.digest(key or self.keys[0], MESSAGE + f"{week}.{public_id.lower()}".encode(), "sha256")[:10]
        return base64.b32encode(mac).decode().lower()

    def message_tag_valid(self, week: str, public_id: str, tag: str) -> bool:
        return any(hmac.compare_digest(tag.lower(), self.message_tag(week, public_id, key)) for key in self.keys)

    def form_token(self, bound: str, now: float) -> str:
        """A token for a form shown at ``now`` (seconds), bound to ``bound`` (the page's link
        token): another page's form, or a form older than a day, does not carry it."""
        issued = str(int(now))
        return f"{issued}.{_form_mac(self.keys[0], bound, issued)}"

    def form_token_valid(self, bound: str, token: str, now: float) -> bool:
        issued, _, mac = token.partition(".")
        if not _SECONDS.fullmatch(issued) or not 0 <= now - int(issued) <= FORM_LIFETIME:
            return False
        return any(hmac.compare_digest(mac, _form_mac(key, bound, issued)) for key in self.keys)


def signer_for(engine: Engine, configured: Sequence[str], store: bool = True) -> Signer:
    """The configured keys (DIGEST_SECRET_KEY), or a random key generated once and kept in the
    database, so a fresh install signs its links without any set-up. ``store=False`` (a dry
    run, whose links go nowhere): a key not generated yet is a throwaway one."""
    if configured:
        return Signer.from_keys(configured)
    with session_scope(engine) as session:
        stored = session.get(Setting, GENERATED_KEY)
        if stored is not None:
            return Signer.from_keys([stored.value])
    if not store:
        return Signer.from_keys([secrets.token_urlsafe(32)])
    try:
        with session_scope(engine) as session:
            session.add(Setting(key=GENERATED_KEY, value=secrets.token_urlsafe(32)))
    except IntegrityError:
        pass  # another process generated it first
    with session_scope(engine) as session:
        found = session.get(Setting, GENERATED_KEY)
        assert found is not None
        return Signer.from_keys([found.value])


def _form_mac(key: bytes, bound: str, issued: str) -> str:
    return _encode(hmac.digest(key, FORM + f"{bound}:{issued}".encode(), "sha256")[:MAC_BYTES])


def _encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")
