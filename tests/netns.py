"""Test hosts on one machine: each is a network namespace of its own, with its own hostname,
joined to this machine by a veth link that the test creates (a /30 of 10.x addresses that
exists only on that link). This machine listens on its end of the link for the services the
host may reach (tests/tcpproxy.py passes them on to loopback); nothing else is reachable from
inside. ``cut`` takes the link down on this machine's side: the host hears nothing more and
gets no error, as when a network fails between machines. Needs root and iproute2."""

from __future__ import annotations

import contextlib
import os
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

    def start(self, command: Sequence[str], **popen: Any) -> subprocess.Popen[str]:
        """``command`` on the host: in its namespace, with its own hostname (a UTS namespace)."""
        wrapped = ["ip", "netns", "exec", self.name, "unshare", "--uts", "sh", "-c",
                   'hostname "$0" && exec "$@"', self.name, *command]  # fmt: skip
        return subprocess.Popen(wrapped, text=True, **popen)

    def cut(self) -> None:
        """The link goes down on this machine's side: from now on the host's packets go nowhere."""
        subprocess.run(["ip", "link", "set", self.link, "down"], check=True)

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
    network = 100 + os.getpid() % 100  # 10.N.0.0/16: another test run at once picks another one, mostly
    made: list[Host] = []
    try:
        for n in range(count):
            host = Host(f"dg{tag}h{n}", f"dg{tag}l{n}", f"10.{network}.{n}.1", f"10.{network}.{n}.2")
            made.append(host)
            _ip("netns", "add", host.name)
            _ip("link", "add", host.link, "type", "veth", "peer", "name", "eth0", "netns", host.name)
            _ip("addr", "add", f"{host.address}/30", "dev", host.link)
            _ip("link", "set", host.link, "up")
            _ip("-n", host.name, "addr", "add", f"{host.own_address}/30", "dev", "eth0")
            _ip("-n", host.name, "link", "set", "eth0", "up")
            _ip("-n", host.name, "link", "set", "lo", "up")
        yield made
    finally:
        for host in made:
            host.kill_all()
            subprocess.run(["ip", "netns", "del", host.name], capture_output=True)  # its end of the link goes too
            subprocess.run(["ip", "link", "del", host.link], capture_output=True)


def _ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")
