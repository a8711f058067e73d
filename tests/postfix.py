"""A real Postfix relay for tests: an instance of Debian's postfix with its own configuration,
queue and log in a temporary folder, listening on loopback only, delivering what it accepts
to nowhere (the ``discard`` transport). Each port is an smtpd with its own restrictions,
so a test meets the replies a real relay gives: a refused client (no login), a size limit,
a mailbox that does not exist."""

from __future__ import annotations

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
    import os

    return Path(POSTFIX).exists() and Path("/usr/lib/postfix/sbin/master").exists() and os.geteuid() == 0


@dataclass
class Relay:
    ports: dict[str, int]
    log: Path

    def lines(self) -> list[str]:
        return self.log.read_text(errors="replace").splitlines() if self.log.exists() else []


def _main_cf(root: Path) -> str:
    return f"""\
compatibility_level = 3.6
queue_directory = {root / "spool"}
data_directory = {root / "data"}
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
meta_directory = /etc/postfix
shlib_directory = /usr/lib/postfix
mail_owner = postfix
setgid_group = postdrop
myhostname = relay.digest.test
mydomain = digest.test
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtp_dns_support_level = disabled
default_transport = discard
maillog_file_prefixes = {root}
maillog_file = {root / "maillog"}
alias_maps =
alias_database =
local_recipient_maps =
biff = no
smtputf8_enable = no
"""


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
def _running(root: Path, smtpd: Mapping[str, str]) -> Iterator[Relay]:
    etc, data = root / "etc", root / "data"
    for folder in (etc, data, root / "spool"):
        folder.mkdir(parents=True, exist_ok=True)
    shutil.chown(data, "postfix")
    ports = {name: free_port() for name in smtpd}
    listeners = "".join(f"127.0.0.1:{ports[name]} inet n - n - - smtpd {options}\n" for name, options in smtpd.items())
    (etc / "main.cf").write_text(_main_cf(root))
    (etc / "master.cf").write_text(listeners + SERVICES)
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
