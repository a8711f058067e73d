"""DKIM signatures verified with dkimpy (no DNS), and STARTTLS that verifies certificates."""

from __future__ import annotations

import base64
import ssl
import subprocess
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import dkim
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from digest.build.issue import build_issue
from digest.config import Config, Dkim
from digest.deliver.send import SendOptions
from digest.errors import ConfigError, SendAborted
from digest.render.dkim import DkimSigner, dkim_signer
from digest.week import run_week
from tests.helpers import add_reader, ingest_samples
from tests.smtpserver import smtp_server
from tests.test_send import smtp_config


def rsa_key(tmp_path: Path) -> tuple[Path, bytes]:
    key = tmp_path / "dkim.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(key), "2048"], check=True, capture_output=True)
    public_der = subprocess.run(["openssl", "rsa", "-in", str(key), "-pubout", "-outform", "DER"],
                                check=True, capture_output=True).stdout  # fmt: skip
    return key, b"v=DKIM1; k=rsa; p=" + base64.b64encode(public_der)


def test_dkim_signs_relaxed_and_covers_the_one_click_headers(
    engine: Engine, sample_config: Config, tmp_path: Path
) -> None:
    key, record = rsa_key(tmp_path)
    ingest_samples(engine, sample_config)
    build_issue(engine, sample_config)
    add_reader(engine, "ada@example.com", "Ada Lovelace")
    with smtp_server() as sink:
        config = smtp_config(
            sample_config, sink.port, dkim=Dkim(selector="weekly", domain="example.com", key_file=str(key))
        )
        assert run_week(engine, config, SendOptions()).sent == 1
    raw = sink.messages[0][1]
    header = raw.split(b"\r\n\r\n")[0].decode()
    assert header.startswith("DKIM-Signature:")
    signature = header.split("\r\n\r\n")[0]
    assert "c=relaxed/relaxed" in signature and "list-unsubscribe-post" in signature.lower()

    def dns(name: bytes, timeout: int = 5) -> bytes:
        assert name == b"weekly._domainkey.example.com."
        return record

    assert dkim.verify(raw, dnsfunc=dns)
    assert not dkim.verify(raw.replace(b"List-Unsubscribe-Post: List-Unsubscribe=One-Click",
                                       b"List-Unsubscribe-Post: List-Unsubscribe=Two-Click"), dnsfunc=dns)  # fmt: skip


def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)  # fmt: skip
    return cert, key


def test_starttls_verifies_the_certificate(engine: Engine, sample_config: Config, tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    ingest_samples(engine, sample_config)
    build_issue(engine, sample_config)
    add_reader(engine, "ada@example.com")
    with smtp_server(tls=context) as sink:
        base = smtp_config(sample_config, sink.port)
        untrusted = replace(
            base, settings=replace(base.settings, smtp_url=f"smtp://127.0.0.1:{sink.port}?starttls=true")
        )
        with pytest.raises(SendAborted, match=r"TLS with smtp://127\.0\.0\.1"):
            run_week(engine, untrusted, SendOptions())
        assert sink.messages == []
        trusted = replace(base, settings=replace(base.settings,
                          smtp_url=f"smtp://127.0.0.1:{sink.port}?starttls=true&cafile={cert}"))  # fmt: skip
        assert run_week(engine, trusted, SendOptions()).sent == 1


@pytest.fixture(scope="module")
def rsa_record(tmp_path_factory: pytest.TempPathFactory) -> tuple[DkimSigner, Callable[..., bytes]]:
    key, record = rsa_key(tmp_path_factory.mktemp("dkim"))

    def dns(name: bytes, timeout: int = 5) -> bytes:
        return record if name == b"s1._domainkey.example.org." else b""

    return DkimSigner(b"s1", b"example.org", key.read_bytes()), dns


whitespace_text = st.lists(st.sampled_from(["a", "B", " ", "\t", "=", "\r\n", ";", ":", "é"]), max_size=80).map("".join)


@settings(max_examples=300, deadline=None)
@given(
    subject=whitespace_text.map(lambda t: t.replace("\r\n", "\r\n ")),  # folded, never a new field
    extra=st.lists(st.sampled_from(["To", "Reply-To", "List-Id", "X-Other"]), max_size=3),
    body=st.lists(whitespace_text, max_size=8).map("\r\n".join),
)
def test_our_signatures_verify_with_dkimpy(
    rsa_record: tuple[DkimSigner, Callable[..., bytes]], subject: str, extra: list[str], body: str
) -> None:
    """Folded headers, whitespace runs, trailing spaces and empty lines, repeated fields:
    dkimpy (an independent implementation) verifies every signature, and a changed body
    or signed header fails."""
    signer, dns = rsa_record
    fields = ["From: A <a@example.org>", f"Subject: {subject}", *(f"{n}: v {i}" for i, n in enumerate(extra))]
    message = ("\r\n".join(fields) + "\r\n\r\n" + body).encode()
    signed = signer.sign(message)
    assert dkim.verify(signed, dnsfunc=dns), signed[:600]
    assert not dkim.verify(signed + b"x\r\n", dnsfunc=dns)
    assert not dkim.verify(signed.replace(b"From: A", b"From: Z"), dnsfunc=dns)


def test_an_unusable_dkim_key_is_one_config_error(sample_config: Config, tmp_path: Path) -> None:
    subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-out", str(tmp_path / "ec.pem")], check=True, capture_output=True)  # fmt: skip
    subprocess.run(["openssl", "genrsa", "-aes128", "-passout", "pass:x", "-out", str(tmp_path / "locked.pem"),
                    "2048"], check=True, capture_output=True)  # fmt: skip
    (tmp_path / "junk.pem").write_text("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
    reasons = {}
    for name in ("ec.pem", "locked.pem", "junk.pem", "missing.pem"):
        dkim_config = Dkim(selector="s", domain="example.org", key_file=str(tmp_path / name))
        config = replace(sample_config, file=sample_config.file.model_copy(update={
            "delivery": sample_config.file.delivery.model_copy(update={"dkim": dkim_config})}))  # fmt: skip
        with pytest.raises(ConfigError) as error:
            dkim_signer(config)
        reasons[name] = str(error.value)
    assert "not an RSA key" in reasons["ec.pem"]
    assert "passphrase" in reasons["locked.pem"]
    assert "not a PEM private key" in reasons["junk.pem"]
    assert "cannot read" in reasons["missing.pem"]
