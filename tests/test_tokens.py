"""Signed link tokens: what they carry, which key signs, how long the MAC is, and the key
a fresh install generates once for every process."""

from __future__ import annotations

import base64
import hmac
import logging
import os
import struct
import subprocess
import sys

import pytest
from sqlalchemy import Engine

from digest.config import ConfigError, Settings
from digest.errors import BadToken
from digest.publicid import new_public_id
from digest.tokens import Link, Signer, signer_for

NEW, OLD = "n" * 32, "o" * 32


def raw(token: str) -> bytes:
    return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))


def test_a_token_carries_the_public_id_and_the_issue_and_a_128_bit_mac() -> None:
    public_id = new_public_id()
    token = Signer.from_keys([NEW]).sign("unsubscribe", public_id, 7)
    data = raw(token)
    assert len(token) == 54 and len(data) == 16 + 8 + 16
    assert data[:16] == bytes.fromhex(public_id) and struct.unpack(">Q", data[16:24]) == (7,)
    assert data[24:] == hmac.digest(NEW.encode(), b"U" + data[:24], "sha256")[:16], "HMAC-SHA256 cut to 16 bytes"
    assert Signer.from_keys([NEW]).verify("unsubscribe", token) == Link(public_id, 7)


def test_the_first_key_signs_and_every_key_verifies() -> None:
    public_id = new_public_id()
    token = Signer.from_keys([NEW, OLD]).sign("unsubscribe", public_id, 1)
    assert Signer.from_keys([NEW]).verify("unsubscribe", token).public_id == public_id
    with pytest.raises(BadToken):
        Signer.from_keys([OLD]).verify("unsubscribe", token)
    mailed_before = Signer.from_keys([OLD]).sign("unsubscribe", public_id, 1)
    assert Signer.from_keys([NEW, OLD]).verify("unsubscribe", mailed_before).public_id == public_id


def test_a_token_is_bound_to_its_purpose() -> None:
    signer = Signer.from_keys([NEW])
    token = signer.sign("resubscribe", new_public_id())
    for other in ("unsubscribe", "confirm"):
        with pytest.raises(BadToken):
            signer.verify(other, token)


def test_ids_in_links_say_nothing_of_list_order() -> None:
    """Two readers made one after the other: nothing in their tokens counts up."""
    signer = Signer.from_keys([NEW])
    first, second = (raw(signer.sign("unsubscribe", new_public_id(), 1))[:16] for _ in range(2))
    assert first != second and abs(int.from_bytes(first, "big") - int.from_bytes(second, "big")) > 2**64


def test_a_short_signing_key_is_refused_and_a_short_older_key_warns(caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(ConfigError, match="DIGEST_SECRET_KEY: the first key signs links and must be at least 32"):
        Settings.from_env({"DIGEST_SECRET_KEY": "short-key"})
    with pytest.raises(ConfigError):
        Signer.from_keys(["x" * 31])
    with caplog.at_level(logging.WARNING, logger="digest.config"):
        signer = Signer.from_keys([NEW, "old-short"])
        Signer.from_keys([NEW, "old-short"])
    assert caplog.text.count("key 2 is shorter than 32 bytes") == 1, "warned once a process"
    legacy = Signer((b"old-short",)).sign("unsubscribe", "ab" * 16, 3)
    assert signer.verify("unsubscribe", legacy).issue_id == 3, "links mailed with the old key go on working"


def test_two_processes_share_the_key_a_fresh_install_generates(engine: Engine, db_url: str) -> None:
    """No DIGEST_SECRET_KEY: the first process to need one stores it; every other process,
    even one starting at the same moment, signs with the same key."""
    code = (
        "import sys; from digest.db import open_database; from digest.tokens import signer_for; "
        "print(signer_for(open_database(sys.argv[1]), ()).sign('unsubscribe', 'ab' * 16, 1))"
    )
    env = {k: v for k, v in os.environ.items() if k != "DIGEST_SECRET_KEY"}
    runs = [subprocess.Popen([sys.executable, "-c", code, db_url], stdout=subprocess.PIPE, text=True, env=env)
            for _ in range(2)]  # fmt: skip
    tokens = {run.communicate(timeout=60)[0].strip() for run in runs}
    assert len(tokens) == 1 and all(run.returncode == 0 for run in runs)
    assert signer_for(engine, ()).verify("unsubscribe", tokens.pop()).public_id == "ab" * 16


def test_a_legacy_token_names_a_row_id() -> None:
    """Links mailed before public ids: 43 characters, a row id; they still verify."""
    packed = struct.pack(">QQ", 20, 5)
    legacy = base64.urlsafe_b64encode(packed + hmac.digest(NEW.encode(), b"U" + packed, "sha256")[:16])
    assert Signer.from_keys([NEW]).verify("unsubscribe", legacy.decode().rstrip("=")) == Link(None, 5, 20)
