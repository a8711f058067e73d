"""The checks in the order an operator fixes them: the mail server, the public site, the
DNS records of the From domain, the keys, the list, the email itself, and the mailbox its
bounces come back to."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import Engine

from digest.config import Config
from digest.errors import DigestError, InputError

CHECKS = ("smtp", "smtp_tls", "base_url", "health", "from_domain", "dkim", "spf", "dmarc", "secret_key", "list", "size",
          "bounces")  # fmt: skip


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "ok": self.ok, "detail": self.detail}


class Failed(Exception):
    """A check that did not pass; its message is the detail."""


def run_checks(
    engine: Engine | None, config: Config, nameserver: str | None = None, names: Sequence[str] = ()
) -> list[Check]:
    """Every check (or those in ``names``), each caught on its own: one that fails (or cannot
    run) never hides the rest. ``engine`` is None when there is no database yet;
    ``nameserver`` (HOST[:PORT]) replaces the system's resolver for the DNS checks."""
    from digest.check import content, records, servers

    resolver = records.Lookup(nameserver)
    steps: list[tuple[str, Callable[[], str]]] = [
        ("smtp", lambda: servers.smtp(config)),
        ("smtp_tls", lambda: servers.smtp_tls(config)),
        ("base_url", lambda: servers.base_url(config)),
        ("health", lambda: servers.health(config)),
        ("from_domain", lambda: content.from_domain(config)),
        ("dkim", lambda: records.dkim(config, resolver)),
        ("spf", lambda: records.spf(config, resolver)),
        ("dmarc", lambda: records.dmarc(config, resolver)),
        ("secret_key", lambda: content.secret_key(config)),
        ("list", lambda: content.readers(engine)),
        ("size", lambda: content.size(engine, config)),
        ("bounces", lambda: servers.bounce_mailbox(config)),
    ]
    unknown = set(names) - {name for name, _ in steps}
    if unknown:
        raise InputError(f"--only: no check named {sorted(unknown)[0]!r} (there are {', '.join(CHECKS)})")
    return [_one(name, step) for name, step in steps if not names or name in names]


def _one(name: str, step: Callable[[], str]) -> Check:
    try:
        return Check(name, True, step())
    except (Failed, DigestError) as exc:
        return Check(name, False, " ".join(str(exc).split()))
