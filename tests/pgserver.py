"""A PostgreSQL server of the test's own, from the machine's PostgreSQL binaries: for tests
that need the server on addresses the machine's own server does not listen on (the links of
the test hosts in tests/netns.py), so that what passes between a host and the database is
real TCP over a link the test can cut. Its data lives in a temporary folder, gone after."""

from __future__ import annotations

import contextlib
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from tests.helpers import require_program

USER = "postgres"  # the server refuses to run as root; the Debian package's user runs it
AS_USER = ["setpriv", f"--reuid={USER}", f"--regid={USER}", "--init-groups", "--"]  # it execs: the server is our child


def binaries() -> Path:
    """The newest PostgreSQL's binaries on this machine (Debian keeps each major in its folder)."""
    found = [p for p in Path("/usr/lib/postgresql").glob("*/bin/postgres") if p.parts[-3].replace(".", "").isdigit()]
    if not found:
        pytest.fail("no PostgreSQL server binaries in /usr/lib/postgresql (apt-get install postgresql)")
    newest = max(found, key=lambda p: tuple(int(n) for n in p.parts[-3].split(".")))
    return newest.parent


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def postgres_server(listen: Sequence[str], database: str = "digest") -> Iterator[str]:
    """A server listening on 127.0.0.1 and ``listen``, trusting every client on them, with
    ``database`` made; yields its URL on 127.0.0.1 (the same port on every address)."""
    bin_dir = binaries()
    require_program("setpriv", "apt-get install util-linux")
    try:
        pwd.getpwnam(USER)
    except KeyError:
        pytest.fail(f"no user {USER!r} to run a PostgreSQL server as (the postgresql package makes it)")
    data = Path(tempfile.mkdtemp(prefix="digest-pg-", dir="/tmp"))  # a folder the server's user can reach
    port = _free_port()
    server = None
    try:
        shutil.chown(data, USER, USER)
        _as_postgres([bin_dir / "initdb", "-D", data / "data", "-U", "postgres", "-A", "trust", "--no-sync"])
        with (data / "data" / "pg_hba.conf").open("a") as hba:
            hba.write("host all all 10.0.0.0/8 trust\n")  # the test hosts' links
        addresses = ",".join(["127.0.0.1", *listen])
        settings = {"listen_addresses": addresses, "port": str(port), "unix_socket_directories": str(data),
                    "fsync": "off", "synchronous_commit": "off", "full_page_writes": "off",
                    "shared_buffers": "64MB", "max_connections": "200"}  # fmt: skip
        command = [str(bin_dir / "postgres"), "-D", str(data / "data")]
        command += [arg for key, value in settings.items() for arg in ("-c", f"{key}={value}")]
        with (data / "server.log").open("w") as log:  # the server is our child, and its output in the log
            server = subprocess.Popen([*AS_USER, *command], stdout=subprocess.DEVNULL, stderr=log)
        _wait_ready(bin_dir, port, server, data / "server.log")
        subprocess.run([bin_dir / "createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", database],
                       check=True, capture_output=True)  # fmt: skip
        yield f"postgresql://postgres@127.0.0.1:{port}/{database}"
    finally:
        if server is not None:
            server.send_signal(signal.SIGINT)  # a fast shutdown: it ends its clients' sessions (SIGTERM waits for them)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(timeout=30)
        shutil.rmtree(data, ignore_errors=True)


def _as_postgres(command: Sequence[str | Path]) -> None:
    done = subprocess.run([*AS_USER, *map(str, command)], capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{' '.join(map(str, command))}: {done.stderr.strip() or done.stdout.strip()}")


def _wait_ready(bin_dir: Path, port: int, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the test's PostgreSQL server did not start: {log.read_text()[-2000:]}")
        ready = subprocess.run([bin_dir / "pg_isready", "-h", "127.0.0.1", "-p", str(port), "-q"])
        if ready.returncode == 0:
            return
        time.sleep(0.1)
    raise RuntimeError(f"the test's PostgreSQL server was not ready within 60 s: {log.read_text()[-2000:]}")
