"""Test hosts on one machine: each is a network namespace of its own, with its own hostname,
joined to this machine by two veth links that the test creates (each a /30 of 10.x addresses
that exists only on that link): one for the database, one for everything else. This machine
listens on its end of a link for the services the host may reach (a PostgreSQL server of the
test's own, tests/pgserver.py, or tests/tcpproxy.py passing a service on to loopback); nothing
else is reachable from inside. ``cut_database`` takes the database's link down on this
machine's side, ``cut`` both: the host hears nothing more and gets no error, and nor does this
machine, as when a network fails between machines. Needs root and iproute2."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from tests.helpers import require_program


@dataclass
class Host:
    name: str  # the namespace's name and the hostname inside it
    link: str  # this machine's end of the veth link
    address: str  # this machine's address on the link: where the host reaches the services
    own_address: str  # the host's address on the link
    db_link: str  # and of the link to the database
    db_address: str

    def start(self, command: Sequence[str], **popen: Any) -> subprocess.Popen[str]:
        """``command`` on the host: in its namespace, with its own hostname (a UTS namespace)."""
        wrapped = ["ip", "netns", "exec", self.name, "unshare", "--uts", "sh", "-c",
                   'hostname "$0" && exec "$@"', self.name, *command]  # fmt: skip
        return subprocess.Popen(wrapped, text=True, **popen)

    def cut(self) -> None:
        """Both links go down on this machine's side: from now on the host's packets go nowhere."""
        self.cut_database()
        subprocess.run(["ip", "link", "set", self.link, "down"], check=True)

    def cut_database(self) -> None:
        """The database's link goes down: its packets to the database, and the database's to it, are lost."""
        subprocess.run(["ip", "link", "set", self.db_link, "down"], check=True)

    def kill_all(self) -> None:
        """SIGKILL every process in the host's namespace."""
        found = subprocess.run(["ip", "netns", "pids", self.name], capture_output=True, text=True)
        for pid in found.stdout.split():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)


def require_root() -> None:
    require_program("ip", "apt-get install iproute2")
    require_program("unshare", "apt-get install util-linux")
    if os.geteuid() != 0:
        if os.environ.get("CI") or os.environ.get("DIGEST_REQUIRE_TOOLS"):
            pytest.fail("network namespaces need root; .ci/run runs as root")
        pytest.skip("network namespaces need root")


@contextlib.contextmanager
def hosts(count: int) -> Iterator[list[Host]]:
    """``count`` hosts, each linked to this machine; all of them and their processes are gone after."""
    require_root()
    tag = os.getpid() % 10_000
    network = _unused_network()
    made: list[Host] = []
    try:
        for n in range(count):
            net, db_net = f"10.{network}.{2 * n}", f"10.{network}.{2 * n + 1}"
            host = Host(f"dg{tag}h{n}", f"dg{tag}l{n}", f"{net}.1", f"{net}.2", f"dg{tag}d{n}", f"{db_net}.1")
            made.append(host)
            _ip("netns", "add", host.name)
            _ip("-n", host.name, "link", "set", "lo", "up")
            for link, inside, prefix in ((host.link, "eth0", net), (host.db_link, "eth1", db_net)):
                _ip("link", "add", link, "type", "veth", "peer", "name", inside, "netns", host.name)
                _ip("addr", "add", f"{prefix}.1/30", "dev", link)
                _ip("link", "set", link, "up")
                _ip("-n", host.name, "addr", "add", f"{prefix}.2/30", "dev", inside)
                _ip("-n", host.name, "link", "set", inside, "up")
        yield made
    finally:
        for host in made:
            host.kill_all()
            subprocess.run(["ip", "netns", "del", host.name], capture_output=True)
            for link in (host.link, host.db_link):  # its ends of the links go with it, but not always at once
                subprocess.run(["ip", "link", "del", link], capture_output=True)


def _unused_network() -> int:
    """N of a 10.N.0.0/16 no address of this machine is in (another test run's hosts, say)."""
    shown = subprocess.run(["ip", "-o", "-4", "addr", "show"], capture_output=True, text=True).stdout
    taken = {int(n) for n in re.findall(r"inet 10\.(\d+)\.", shown)}
    start = os.getpid() % 100
    free = [n for n in (100 + (start + i) % 100 for i in range(100)) if n not in taken]
    if not free:
        raise RuntimeError("10.100.0.0 to 10.199.255.255 are all in use on this machine: no network for test hosts")
    return free[0]


def _ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")
