"""A real Postfix relay for tests: an instance of Debian's postfix with its own configuration,
queue and log in a temporary folder, listening on loopback only, delivering what it accepts
to nowhere (the ``discard`` transport). Each port is an smtpd with its own restrictions,
so a test meets the replies a real relay gives: a refused client (no login), a size limit,
a mailbox that does not exist. A second kind of instance, ``postfix_bouncer``, delivers
for itself and bounces mail for unknown users the way a real MX does: later, with a
delivery status notification (RFC 3464) built by Postfix, into a Maildir."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.smtpserver import free_port

POSTFIX = shutil.which("postfix") or "/usr/sbin/postfix"
SERVICES = """\
cleanup unix n - n - 0 cleanup
qmgr unix n - n 300 1 qmgr
rewrite unix - - n - - trivial-rewrite
bounce unix - - n - 0 bounce
defer unix - - n - 0 bounce
trace unix - - n - 0 bounce
verify unix - - n - 1 verify
flush unix n - n 1000? 0 flush
proxymap unix - - n - - proxymap
smtp unix - - n - - smtp
relay unix - - n - - smtp
showq unix n - n - - showq
error unix - - n - - error
retry unix - - n - - error
discard unix - - n - - discard
anvil unix - - n - 1 anvil
scache unix - - n - 1 scache
postlog unix-dgram n - n - 1 postlogd
"""


def available() -> bool:
    """Debian's postfix is installed and we may start it (its master runs as root)."""
    return Path(POSTFIX).exists() and Path("/usr/lib/postfix/sbin/master").exists() and os.geteuid() == 0


@dataclass
class Relay:
    ports: dict[str, int]
    log: Path

    def lines(self) -> list[str]:
        return self.log.read_text(errors="replace").splitlines() if self.log.exists() else []


def _main_cf(root: Path, overrides: Mapping[str, str] | None = None) -> str:
    """The relay's main.cf; ``overrides`` replace or add parameters (a second kind of instance)."""
    settings = {
        "compatibility_level": "3.6",
        "queue_directory": str(root / "spool"),
        "data_directory": str(root / "data"),
        "command_directory": "/usr/sbin",
        "daemon_directory": "/usr/lib/postfix/sbin",
        "meta_directory": "/etc/postfix",
        "shlib_directory": "/usr/lib/postfix",
        "mail_owner": "postfix",
        "setgid_group": "postdrop",
        "myhostname": "relay.digest.test",
        "mydomain": "digest.test",
        "mydestination": "",
        "inet_interfaces": "127.0.0.1",
        "inet_protocols": "ipv4",
        "mynetworks": "127.0.0.0/8",
        "smtp_dns_support_level": "disabled",
        "default_transport": "discard",
        "maillog_file_prefixes": str(root),
        "maillog_file": str(root / "maillog"),
        "alias_maps": "",
        "alias_database": "",
        "local_recipient_maps": "",
        "biff": "no",
        "smtputf8_enable": "no",
    }
    settings.update(overrides or {})
    return "".join(f"{name} = {value}".rstrip() + "\n" for name, value in settings.items())


@contextmanager
def postfix_relay(smtpd: Mapping[str, str]) -> Iterator[Relay]:
    """Start Postfix with one smtpd per entry of ``smtpd`` (name: its ``-o`` options); stop it
    after. Its folder is outside pytest's (which only root may enter): Postfix's daemons run
    as the postfix user."""
    root = Path(tempfile.mkdtemp(prefix="digest-postfix-"))
    root.chmod(0o755)
    try:
        with _running(root, smtpd) as relay:
            yield relay
    finally:
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def _running(
    root: Path, smtpd: Mapping[str, str], overrides: Mapping[str, str] | None = None, services: str = SERVICES
) -> Iterator[Relay]:
    etc, data = root / "etc", root / "data"
    for folder in (etc, data, root / "spool"):
        folder.mkdir(parents=True, exist_ok=True)
    shutil.chown(data, "postfix")
    ports = {name: free_port() for name in smtpd}
    listeners = "".join(f"127.0.0.1:{ports[name]} inet n - n - - smtpd {options}\n" for name, options in smtpd.items())
    (etc / "main.cf").write_text(_main_cf(root, overrides))
    (etc / "master.cf").write_text(listeners + services)
    relay = Relay(ports, root / "maillog")
    subprocess.run([POSTFIX, "-c", str(etc), "check"], check=True, capture_output=True)
    subprocess.run([POSTFIX, "-c", str(etc), "start"], check=True, capture_output=True)
    try:
        _wait_for_listeners(relay)
        yield relay
    finally:
        subprocess.run([POSTFIX, "-c", str(etc), "stop"], capture_output=True)
        _wait_for_ports_closed(relay)


def _wait_for_listeners(relay: Relay) -> None:
    import socket

    deadline = time.monotonic() + 20
    for port in relay.ports.values():
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"postfix did not start: {relay.lines()[-5:]}") from None
                time.sleep(0.05)


def _wait_for_ports_closed(relay: Relay) -> None:
    import socket

    deadline = time.monotonic() + 10
    for port in relay.ports.values():
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
            except OSError:
                break
            time.sleep(0.05)


BOUNCE_DOMAIN = "bounce.test"
RETURN_DOMAIN = "returns.test"
DELAY_DOMAIN = "delay.test"
VIRTUAL = "virtual unix - n n - - virtual\n"


@dataclass
class Bouncer:
    port: int
    maildir: Path
    log: Path

    def lines(self) -> list[str]:
        return self.log.read_text(errors="replace").splitlines() if self.log.exists() else []

    def wait_for_mail(self, count: int = 1, timeout: float = 30) -> list[Path]:
        """The files in ``maildir/new`` (oldest first) once there are at least ``count``."""
        deadline = time.monotonic() + timeout
        while True:
            mail = sorted((self.maildir / "new").iterdir(), key=lambda path: (path.stat().st_mtime, path.name))
            if len(mail) >= count:
                return mail
            if time.monotonic() > deadline:
                log = "\n".join(self.lines()[-15:])
                raise TimeoutError(
                    f"{len(mail)} of {count} messages in {self.maildir} after {timeout}s; maillog:\n{log}"
                )
            time.sleep(0.05)


@contextmanager
def postfix_bouncer() -> Iterator[Bouncer]:
    """Start Postfix so that it bounces mail itself, with a real DSN (RFC 3464) built by its
    ``bounce`` daemon; stop it after.

    Its smtpd on ``Bouncer.port`` (no login; 127.0.0.0/8 may relay) accepts mail for any
    address at ``bounce.test`` (no check at RCPT time); the ``virtual`` delivery agent then
    finds no such mailbox and the message bounces: ``Status: 5.1.1``, ``Action: failed``,
    the original message returned as ``message/rfc822`` (``text/rfc822-headers`` when sent
    with ``RET=HDRS``). Mail for any address at ``returns.test``, extensions such as
    ``bounces+TOKEN@`` included, is delivered into the one Maildir ``Bouncer.maildir``,
    with ``X-Original-To:`` and ``Delivered-To:`` giving the full address: send with that
    envelope sender and the DSN lands there within a second or so.

    Mail for ``delay.test`` is deferred (4.4.1) and retried every second or two; after one
    second in the queue its sender gets a delay DSN (``Action: delayed``) — sent once; the
    message then stays queued until the instance stops.

    The folder is outside pytest's (which only root may enter); the Maildir belongs to
    ``nobody``, as whom ``virtual`` delivers."""
    import pwd

    nobody = pwd.getpwnam("nobody")
    root = Path(tempfile.mkdtemp(prefix="digest-postfix-bouncer-"))
    root.chmod(0o755)
    mail = root / "mail"
    maildir = mail / "returns"
    try:
        for folder in (mail, maildir, *(maildir / sub for sub in ("new", "cur", "tmp"))):
            folder.mkdir(exist_ok=True)
            os.chown(folder, nobody.pw_uid, nobody.pw_gid)
            folder.chmod(0o755)
        overrides = {
            "myhostname": f"mx.{BOUNCE_DOMAIN}",
            "mydomain": BOUNCE_DOMAIN,
            "recipient_delimiter": "+",
            "smtpd_reject_unlisted_recipient": "no",
            "virtual_mailbox_domains": f"{BOUNCE_DOMAIN}, {RETURN_DOMAIN}",
            "virtual_mailbox_base": str(mail),
            "virtual_mailbox_maps": f"inline:{{ @{RETURN_DOMAIN}={maildir.name}/ }}",
            "virtual_uid_maps": f"static:{nobody.pw_uid}",
            "virtual_gid_maps": f"static:{nobody.pw_gid}",
            "transport_maps": f"inline:{{ {{ {DELAY_DOMAIN} = retry:4.4.1 deferred for the test }} }}",
            "delay_warning_time": "1s",
            "queue_run_delay": "1s",
            "minimal_backoff_time": "1s",
            "maximal_backoff_time": "2s",
        }
        with _running(root, {"bounce": ""}, overrides, SERVICES + VIRTUAL) as relay:
            yield Bouncer(relay.ports["bounce"], maildir, relay.log)
    finally:
        shutil.rmtree(root, ignore_errors=True)
