"""``digest check``: the preflight, one line per check."""

from __future__ import annotations

import sys

import click

from digest.cli.support import State, friendly_errors, main_output, print_json


@click.command("check")
@click.option("--nameserver", metavar="HOST[:PORT]", help="Ask this DNS server (default: the system's resolver).")
@click.option("--only", metavar="NAME[,NAME...]", help="Run only these checks (names as listed below).")
@click.option("--json", "as_json", is_flag=True, help="Print the contract's JSON on stdout.")
@click.pass_obj
@friendly_errors
def check_command(state: State, nameserver: str | None, only: str | None, as_json: bool) -> None:
    """Check, before readers see anything, that a real send will go well.

    \b
    smtp         the server answers, TLS is verified, the login is accepted (then QUIT)
    smtp_tls     mail to a server off this machine is encrypted
    base_url     DIGEST_BASE_URL is https on a public host (one-click unsubscribe)
    health       DIGEST_BASE_URL/health answers 200 (digest serve is up)
    from_domain  newsletter.from is not at a placeholder domain
    dkim         the key at SELECTOR._domainkey.DOMAIN is the public half of yours
    spf, dmarc   the From domain publishes both records
    secret_key   DIGEST_SECRET_KEY is set, long and random-looking
    list         there are active readers
    size         this week's email is under 100 KB (Gmail clips at 102 KB)

    Nothing is sent or stored. Exit 0 only when every check passes, else 1.

    \b
    Examples:
      digest check
      digest check --only dkim,spf,dmarc
      digest check --json | jq '.checks[] | select(.ok | not)'
    """
    from digest.check import run_checks

    config = state.config
    names = [n.strip() for n in (only or "").split(",") if n.strip()]
    checks = run_checks(state.existing_engine, config, nameserver, names)
    shown = main_output(as_json)
    for check in checks:
        mark = "[green]ok  [/green]" if check.ok else "[red]FAIL[/red]"
        shown.print(f"{mark} {check.name:<12} ", end="")
        shown.print(check.detail, markup=False, soft_wrap=True)
    failed = [c.name for c in checks if not c.ok]
    shown.print(f"{len(checks) - len(failed)} of {len(checks)} checks passed" + (f"; failed: {', '.join(failed)}"
                                                                                 if failed else "."))  # fmt: skip
    if as_json:
        print_json({"checks": [c.to_json() for c in checks]})
    if failed:
        sys.exit(1)
