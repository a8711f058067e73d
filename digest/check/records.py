"""The From domain's DNS records, through dnspython (a well-kept resolver: TXT strings,
timeouts and NXDOMAIN handled as the RFCs say): the DKIM key published at
``selector._domainkey.domain`` (RFC 6376 3.6.1) must be the public half of the key digest
signs with; SPF (RFC 7208) and DMARC (RFC 7489) records must exist."""

from __future__ import annotations

import base64
import binascii
from email.utils import parseaddr

import dns.exception
import dns.resolver

from digest.check.run import Failed
from digest.config import Config
from digest.errors import InputError


class Lookup:
    """TXT lookups through the system's resolver, or through ``nameserver`` (HOST[:PORT])."""

    def __init__(self, nameserver: str | None = None, timeout: float = 5.0) -> None:
        self.server = None if nameserver is None else parse_nameserver(nameserver)
        self.timeout = timeout

    def _resolver(self) -> dns.resolver.Resolver:
        if self.server is None:
            try:
                resolver = dns.resolver.Resolver()
            except dns.resolver.NoResolverConfiguration:
                raise Failed("this machine has no DNS resolver configured (give --nameserver)") from None
        else:
            resolver = dns.resolver.Resolver(configure=False)
            resolver.nameservers = [self.server[0]]
            resolver.port = self.server[1]
        resolver.lifetime = self.timeout
        return resolver

    def txt(self, name: str) -> list[str]:
        """The TXT records at ``name``, each one string; none when the name has none."""
        try:
            answer = self._resolver().resolve(name, "TXT")
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return []
        except dns.exception.Timeout:
            raise Failed(f"{name}: no answer from DNS within {self.timeout:g} s") from None
        except dns.exception.DNSException as exc:
            raise Failed(f"{name}: the DNS lookup failed: {exc}") from None
        return [b"".join(rdata.strings).decode("ascii", "replace") for rdata in answer]  # type: ignore[attr-defined]


def parse_nameserver(text: str) -> tuple[str, int]:
    """``HOST[:PORT]``, HOST an IPv4 or IPv6 address (``[::1]:5353``); InputError otherwise."""
    import ipaddress

    host, port = text.strip(), "53"
    if host.startswith("["):
        host, closed, rest = host[1:].partition("]")
        host = host if closed else ""
        port = rest.removeprefix(":") or "53"
    elif host.count(":") == 1:
        host, port = host.split(":")
    try:
        address = str(ipaddress.ip_address(host))
        number = int(port)
    except ValueError:
        raise InputError(f"--nameserver {text!r}: expected an IP address and an optional port, e.g. 127.0.0.1:53 or "
                         "[::1]:5353") from None  # fmt: skip
    if not 0 < number < 65536:
        raise InputError(f"--nameserver {text!r}: port {number} is out of range")
    return address, number


def sender_domain(config: Config) -> str:
    return parseaddr(config.newsletter.sender)[1].rpartition("@")[2].lower().rstrip(".")


def tags(record: str) -> dict[str, str]:
    """A DKIM or DMARC tag list (``k=v; k=v``), whitespace inside values removed."""
    found: dict[str, str] = {}
    for part in record.split(";"):
        key, sep, value = part.partition("=")
        if sep:
            found[key.strip().lower()] = "".join(value.split())
    return found


def dkim(config: Config, lookup: Lookup) -> str:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    from digest.render.dkim import dkim_signer, load_key

    settings = config.file.delivery.dkim
    if settings is None:
        raise Failed("no delivery key: sources.yaml has no delivery.dkim (selector, domain, key_file); "
                     "providers junk or refuse unsigned bulk mail")  # fmt: skip
    signer = dkim_signer(config)
    assert signer is not None
    key = load_key(signer.key).public_key()
    name = f"{signer.selector.decode()}._domainkey.{signer.domain.decode()}"
    records = [tags(r) for r in lookup.txt(name)]
    records = [r for r in records if "p" in r and r.get("v", "DKIM1") == "DKIM1"]
    if not records:
        raise Failed(f"{name}: no DKIM record (publish v=DKIM1; k=rsa; p=<the public key>)")
    mine = {key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo),
            key.public_bytes(Encoding.DER, PublicFormat.PKCS1)}  # fmt: skip
    for record in records:
        try:
            published = base64.b64decode(record["p"], validate=True)
        except (binascii.Error, ValueError):
            continue
        if published in mine:
            return f"{name}: the published key is the public half of {settings.key_file} ({key.key_size} bits)"
    if all(not r["p"] for r in records):
        raise Failed(f"{name}: the key is revoked (empty p=)")
    raise Failed(f"{name}: the published key is not the public half of {settings.key_file}: "
                 "mail signed with it fails DKIM")  # fmt: skip


def spf(config: Config, lookup: Lookup) -> str:
    domain = sender_domain(config)
    found = [r for r in lookup.txt(domain) if r.lower().startswith("v=spf1")]
    if not found:
        raise Failed(f"{domain}: no SPF record (a TXT record starting v=spf1 that names your relay)")
    if len(found) > 1:
        raise Failed(f"{domain}: {len(found)} SPF records; RFC 7208 allows one (receivers treat it as an error)")
    return f"{domain}: {found[0]}"


def dmarc(config: Config, lookup: Lookup) -> str:
    domain = sender_domain(config)
    found = [tags(r) for r in lookup.txt(f"_dmarc.{domain}") if r.replace(" ", "").upper().startswith("V=DMARC1")]
    if not found:
        raise Failed(f"_dmarc.{domain}: no DMARC record (at least v=DMARC1; p=none; bulk senders need one)")
    return f"_dmarc.{domain}: policy p={found[0].get('p', '?')}"
