"""`digest check` against real servers: aiosmtpd (plain, STARTTLS, a login), a DNS server on
loopback with right and wrong records, `digest serve` for /health. Each check can fail."""

from __future__ import annotations

import json
import re
import shutil
import socket
import ssl
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import Engine

from digest.build.issue import build_issue
from digest.check import Check, run_checks
from digest.check import content as content_checks
from digest.config import Config, Dkim, Settings
from tests.conftest import KEY, ROOT
from tests.dnsserver import dns_server
from tests.helpers import add_reader, ingest_samples
from tests.smtpserver import Faults, free_port, smtp_server
from tests.test_dkim_tls import rsa_key, self_signed
from tests.webserver import running

DOMAIN = "weekly.productpeople.io"


def configured(config: Config, tmp_path: Path | None = None, smtp_url: str = "", **settings: object) -> Config:
    """``config`` with a real From domain, a DKIM key (when ``tmp_path``) and these settings."""
    newsletter = config.file.newsletter.model_copy(update={"sender": f"Product People Weekly <digest@{DOMAIN}>"})
    delivery = config.file.delivery
    if tmp_path is not None:
        key, _ = rsa_key(tmp_path)
        delivery = delivery.model_copy(update={"dkim": Dkim(selector="weekly", domain=DOMAIN, key_file=str(key))})
    file = config.file.model_copy(update={"newsletter": newsletter, "delivery": delivery})
    base = Settings(smtp_url=smtp_url or "maildir:./outbox", base_url="https://digest.productpeople.io",
                    secret_keys=(KEY,), database_url=config.settings.database_url)  # fmt: skip
    return replace(config, settings=replace(base, **settings), file=file)  # type: ignore[arg-type]


def by_name(checks: list[Check]) -> dict[str, Check]:
    return {c.name: c for c in checks}


def test_smtp_plain_starttls_and_login_each_pass_and_fail(sample_config: Config, tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)
    with smtp_server(Faults(login=("digest", "s3cret")), tls=tls) as sink:
        plain = smtp_checks(configured(sample_config, smtp_url=f"smtp://127.0.0.1:{sink.port}"))
        trusted = f"smtp://digest:s3cret@127.0.0.1:{sink.port}?starttls=true&cafile={cert}"
        good = smtp_checks(configured(sample_config, smtp_url=trusted))
        untrusted = smtp_checks(configured(
            sample_config, smtp_url=f"smtp://digest:s3cret@127.0.0.1:{sink.port}?starttls=true"))  # fmt: skip
        wrong = smtp_checks(configured(sample_config, smtp_url=trusted.replace("s3cret", "nope")))
        assert sink.messages == [], "a check sends nothing"
        assert sink.quits >= 2, "and ends with QUIT"
    assert plain["smtp"].ok and plain["smtp_tls"].ok and "on this machine" in plain["smtp_tls"].detail
    assert good["smtp"].ok and "TLS certificate verified" in good["smtp"].detail
    assert "login as digest accepted" in good["smtp"].detail and "s3cret" not in good["smtp"].detail
    assert not untrusted["smtp"].ok and "TLS with smtp://digest:***@127.0.0.1" in untrusted["smtp"].detail
    assert not wrong["smtp"].ok and "refused the login: 535" in wrong["smtp"].detail
    down = smtp_checks(configured(sample_config, smtp_url=f"smtp://127.0.0.1:{free_port()}"))
    assert not down["smtp"].ok and "cannot connect" in down["smtp"].detail
    remote = by_name(
        run_checks(None, configured(sample_config, smtp_url="smtp://relay.invalid:25"), names=["smtp_tls"])
    )
    assert not remote["smtp_tls"].ok and "unencrypted" in remote["smtp_tls"].detail  # (no connection tried)
    maildir = smtp_checks(configured(sample_config))
    assert not maildir["smtp"].ok and "not to readers" in maildir["smtp"].detail


def smtp_checks(config: Config) -> dict[str, Check]:
    return by_name(run_checks(None, config, names=["smtp", "smtp_tls"]))


DNS_CHECKS = ["dkim", "spf", "dmarc"]
LOCAL = ["base_url", "from_domain", "secret_key", "list", "size"]  # (health would ask DNS for the site's host)


def test_dkim_spf_and_dmarc_against_a_dns_server(sample_config: Config, tmp_path: Path) -> None:
    config = configured(sample_config, tmp_path)
    (tmp_path / "other").mkdir()
    wrong_record = rsa_key(tmp_path / "other")[1].decode()  # another key's public half
    assert config.file.delivery.dkim is not None
    right_record = rsa_key_record(Path(config.file.delivery.dkim.key_file))
    records = {
        f"weekly._domainkey.{DOMAIN}": [right_record],
        DOMAIN: ["google-site-verification=abc", "v=spf1 ip4:192.0.2.10 -all"],
        f"_dmarc.{DOMAIN}": ["v=DMARC1; p=quarantine; rua=mailto:dmarc@productpeople.io"],
    }
    with dns_server(records) as nameserver:
        good = by_name(run_checks(None, config, nameserver, DNS_CHECKS))
        records[f"weekly._domainkey.{DOMAIN}"] = [wrong_record]
        records[DOMAIN] = ["v=spf1 -all", "v=spf1 ip4:192.0.2.10 -all"]
        del records[f"_dmarc.{DOMAIN}"]
        bad = by_name(run_checks(None, config, nameserver, DNS_CHECKS))
        records[f"weekly._domainkey.{DOMAIN}"] = ["v=DKIM1; k=rsa; p="]
        records[DOMAIN] = ["v=msv1 t=abc"]
        revoked = by_name(run_checks(None, config, nameserver, DNS_CHECKS))
        del records[f"weekly._domainkey.{DOMAIN}"]
        missing = by_name(run_checks(None, config, nameserver, DNS_CHECKS))
    assert good["dkim"].ok and "public half" in good["dkim"].detail and "2048 bits" in good["dkim"].detail
    assert good["spf"].ok and "ip4:192.0.2.10" in good["spf"].detail
    assert good["dmarc"].ok and "p=quarantine" in good["dmarc"].detail
    assert not bad["dkim"].ok and "not the public half" in bad["dkim"].detail
    assert not bad["spf"].ok and "2 SPF records" in bad["spf"].detail
    assert not bad["dmarc"].ok and f"_dmarc.{DOMAIN}: no DMARC record" in bad["dmarc"].detail
    assert not revoked["dkim"].ok and "revoked" in revoked["dkim"].detail
    assert not revoked["spf"].ok and "no SPF record" in revoked["spf"].detail
    assert not missing["dkim"].ok and "no DKIM record" in missing["dkim"].detail
    no_key = by_name(run_checks(None, configured(sample_config), names=["dkim"]))
    assert not no_key["dkim"].ok and "no delivery.dkim" in no_key["dkim"].detail
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as mute:  # a DNS server that never answers
        mute.bind(("127.0.0.1", 0))
        silent = by_name(run_checks(None, config, f"127.0.0.1:{mute.getsockname()[1]}", ["spf"]))
    assert not silent["spf"].ok and "no answer from DNS within 5 s" in silent["spf"].detail


def rsa_key_record(key: Path) -> str:
    public_der = subprocess.run(["openssl", "rsa", "-in", str(key), "-pubout", "-outform", "DER"],
                                check=True, capture_output=True).stdout  # fmt: skip
    import base64

    return "v=DKIM1; k=rsa; p=" + base64.b64encode(public_der).decode()


def test_the_site_the_keys_the_domain_the_list_and_the_size(
    engine: Engine, sample_config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = configured(sample_config)
    empty = by_name(run_checks(engine, config, names=LOCAL))
    assert empty["base_url"].ok and empty["from_domain"].ok and empty["secret_key"].ok
    assert not empty["list"].ok and "no active readers" in empty["list"].detail
    assert not empty["size"].ok and "no issue built yet" in empty["size"].detail
    ingest_samples(engine, config)
    build_issue(engine, config)
    add_reader(engine, "ada@example.com", "Ada")
    with running(engine, config) as base:
        served = by_name(run_checks(engine, replace(config, settings=replace(config.settings, base_url=base)),
                                    names=["health", "base_url"]))  # fmt: skip
    closed = replace(config, settings=replace(config.settings, base_url=f"http://127.0.0.1:{free_port()}"))
    assert not by_name(run_checks(engine, closed, names=["health"]))["health"].ok
    assert served["health"].ok and served["health"].detail.startswith(f"{base}/health: 200")
    assert not served["base_url"].ok and "is not https" in served["base_url"].detail
    full = by_name(run_checks(engine, config, names=LOCAL))
    assert full["list"].ok and full["list"].detail == "1 active reader(s)"
    assert full["size"].ok and "KB" in full["size"].detail
    monkeypatch.setattr(content_checks, "MAX_SIZE", 1000)
    assert not by_name(run_checks(engine, config, names=LOCAL))["size"].ok
    for settings, says in [({"base_url": "https://localhost:8443"}, "points at this machine"),
                           ({"secret_keys": ()}, "is not set"), ({"secret_keys": ("short",)}, "needs 32"),
                           ({"secret_keys": ("ab" * 20,)}, "made by hand")]:  # fmt: skip
        changed = replace(config, settings=replace(config.settings, **settings))  # type: ignore[arg-type]
        failed = [c for c in run_checks(engine, changed, names=LOCAL) if not c.ok and says in c.detail]
        assert failed, (settings, says)
    placeholder = by_name(run_checks(engine, sample_config, names=LOCAL))
    assert not placeholder["from_domain"].ok and "example.com, a placeholder" in placeholder["from_domain"].detail


def test_digest_check_prints_a_line_a_check_and_the_contract_json(tmp_path: Path, env: dict[str, str]) -> None:
    shutil.copytree(ROOT / "samples", tmp_path / "samples")
    shutil.copy(ROOT / "sources.yaml", tmp_path / "sources.yaml")
    local = {**env, "PATH": "/usr/bin:/bin", "DIGEST_BASE_URL": f"http://127.0.0.1:{free_port()}"}
    with dns_server({}) as nameserver:
        result = subprocess.run([sys.executable, "-m", "digest", "check", "--json", "--nameserver", nameserver],
                                env=local, cwd=tmp_path, capture_output=True, text=True,
                                timeout=120)  # fmt: skip
        shown = subprocess.run([sys.executable, "-m", "digest", "check", "--nameserver", nameserver],
                               env=local, cwd=tmp_path, capture_output=True, text=True,
                               timeout=120)  # fmt: skip
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    checks = json.loads(result.stdout)["checks"]
    assert [c["name"] for c in checks] == ["smtp", "smtp_tls", "base_url", "health", "from_domain", "dkim", "spf",
                                           "dmarc", "secret_key", "list", "size", "bounces"]  # fmt: skip
    assert all(set(c) == {"name", "ok", "detail"} and c["detail"] for c in checks)
    assert not any(c["ok"] for c in checks if c["name"] in ("smtp", "from_domain", "base_url"))
    lines = shown.stdout.strip().splitlines()
    assert (
        shown.returncode == 1
        and len(lines) == len(checks) + 1
        and re.match(r"\d+ of 12 checks passed; failed: smtp,", lines[-1])
    )
    assert not (tmp_path / "digest.db").exists(), "a check stores nothing"
