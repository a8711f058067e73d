"""A real IMAP server for tests: an instance of Debian's dovecot with its own configuration,
TLS certificate, mail storage, log, pid file and sockets in a temporary folder, listening on
127.0.0.1 only (IMAPS on one port, plain IMAP with STARTTLS on another), with one user. A test
meets what a real mailbox does: certificates checked against a CA of its own, a refused
password, LOGIN refused before STARTTLS on the plain port (``ssl = required``), folders created
on demand, MOVE (RFC 6851).

The mailbox is a maildir with ``LAYOUT=fs`` and ``/`` as the hierarchy separator, INBOX in the
one namespace: "Processed" and "digest-unmatched" are folders beside INBOX (``Maildir/Processed``),
and "a/b" is "b" inside "a". Mail processes run as ``nobody``/``nogroup``; dovecot's own
processes as its ``dovecot`` and ``dovenull`` users, so the server's folder is created
world-traversable under the system's temporary folder (pytest's ``tmp_path`` is not: its root
is private to root). Its ``base_dir``, ``state_dir`` and ``instance_name`` are its own, so it
never meets a system dovecot, nor another instance of this one.

Dovecot counts a client whose address is the server's own as secured and would take a password
in clear text from it, so the plain port is a relay in this process that reaches dovecot from
127.0.0.2: there, as on a real server, LOGIN is refused (LOGINDISABLED) until STARTTLS. The
IMAPS port is dovecot's own. Auth failures answer after half a second (dovecot's shortest
delay) and never slow down the next attempt (anvil's auth penalty is off); the server stops at
once (SIGKILL to its processes), as nothing of it outlives the test."""

from __future__ import annotations

import grp
import imaplib
import ipaddress
import os
import pwd
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.smtpserver import free_port

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
MAIL_USER, MAIL_GROUP = "nobody", "nogroup"
USER = "bounces"
PASSWORD = "b0unce p@ss/%"  # percent-encoding in url() has something to do


def available() -> bool:
    """Debian's dovecot is installed and we may start it (its master runs as root)."""
    return Path(DOVECOT).exists() and os.geteuid() == 0


@dataclass
class Imap:
    host: str
    imaps_port: int  # implicit TLS
    imap_port: int  # plain, offers STARTTLS; LOGIN before it is refused
    user: str
    password: str
    cafile: Path  # the CA that signed the server's certificate (for IP 127.0.0.1 and DNS localhost)
    root: Path  # the server's folder

    @property
    def log(self) -> Path:
        return self.root / "dovecot.log"

    def lines(self) -> list[str]:
        return self.log.read_text(errors="replace").splitlines() if self.log.exists() else []

    def url(self, folder: str = "INBOX", *, starttls: bool = False, password: str | None = None) -> str:
        """``imaps://user:pass@127.0.0.1:PORT/INBOX?cafile=...``, or with ``starttls`` the plain
        port: ``imap://...:PORT/INBOX?starttls=true&cafile=...``."""
        secret = self.password if password is None else password
        login = f"{quote(self.user, safe='')}:{quote(secret, safe='')}"
        cafile = quote(str(self.cafile), safe="/")
        if starttls:
            return f"imap://{login}@{self.host}:{self.imap_port}/{quote(folder)}?starttls=true&cafile={cafile}"
        return f"imaps://{login}@{self.host}:{self.imaps_port}/{quote(folder)}?cafile={cafile}"

    def tls(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.cafile))

    @contextmanager
    def connect(self) -> Iterator[imaplib.IMAP4_SSL]:
        """A logged-in IMAPS session, logged out after."""
        client = imaplib.IMAP4_SSL(self.host, self.imaps_port, ssl_context=self.tls(), timeout=10)
        try:
            client.login(self.user, self.password)
            yield client
        finally:
            with suppress(imaplib.IMAP4.error, OSError):
                client.logout()

    def append(self, message: bytes, folder: str = "INBOX") -> None:
        """Store ``message`` in ``folder`` (created if missing), unflagged."""
        with self.connect() as client:
            if folder.upper() != "INBOX" and folder not in self._folders(client):
                _ok(client.create(_mailbox(folder)))
            _ok(client.append(_mailbox(folder), "", None, message))

    def messages(self, folder: str = "INBOX") -> list[bytes]:
        """The full bytes of each message in ``folder``, in order, without setting \\Seen; [] if
        there is no such folder."""
        return [item[1] for item in self._fetch(folder, "(BODY.PEEK[])") if isinstance(item, tuple)]

    def flags(self, folder: str = "INBOX") -> list[set[str]]:
        """The flags of each message in ``folder``, in order (e.g. ``{"\\\\Seen"}``), without
        the session flag \\Recent; [] if there is no such folder."""
        found = [item for item in self._fetch(folder, "(FLAGS)") if isinstance(item, bytes)]
        return [{flag.decode() for flag in imaplib.ParseFlags(item)} - {"\\Recent"} for item in found]

    def folders(self) -> list[str]:
        """The folders as the server lists them, e.g. ``["INBOX", "Processed"]``."""
        with self.connect() as client:
            return self._folders(client)

    def _folders(self, client: imaplib.IMAP4) -> list[str]:
        typ, data = client.list('""', "*")
        _ok((typ, data))
        names = []
        for item in data:
            if item is None:
                continue
            if isinstance(item, tuple):  # the name came as a literal
                names.append(item[1].decode())
                continue
            match = re.match(rb'\((?P<flags>[^)]*)\) (?:"(?:[^"\\]|\\.)*"|NIL) (?P<name>.+)$', item)
            if match is None:
                raise imaplib.IMAP4.error(f"unexpected LIST line {item!r}")
            name = match["name"].decode()
            if name.startswith('"'):
                name = re.sub(r"\\(.)", r"\1", name[1:-1])
            names.append(name)
        return names

    def _fetch(self, folder: str, items: str) -> list[bytes | tuple[bytes, bytes]]:
        with self.connect() as client:
            typ, data = client.select(_mailbox(folder), readonly=True)
            if typ != "OK" or int(data[0] or 0) == 0:
                return []
            reply = client.fetch("1:*", items)
            _ok(reply)
            return [item for item in reply[1] if item and item != b")"]


def _mailbox(name: str) -> str:
    """A mailbox name as an IMAP quoted string (imaplib sends arguments as they are)."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _ok(reply: tuple[str, Sequence[object]]) -> None:
    typ, data = reply
    if typ != "OK":
        raise imaplib.IMAP4.error(f"{typ}: {data!r}")


@contextmanager
def dovecot_server(tmp: Path | None = None) -> Iterator[Imap]:
    """Start dovecot in a new folder under ``tmp`` (the system's temporary folder by default;
    it must be traversable by ``nobody``), wait until both ports accept connections, yield the
    server, stop it after and remove its folder."""
    parent = Path(tmp or tempfile.gettempdir()).resolve()
    if not all(folder.stat().st_mode & 0o001 for folder in (parent, *parent.parents)):
        raise ValueError(f"{parent}: dovecot's users (nobody, dovecot) cannot reach a folder in it")
    root = Path(tempfile.mkdtemp(prefix="digest-dovecot-", dir=parent))
    root.chmod(0o755)
    try:
        with _running(root) as imap:
            yield imap
    finally:
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def _running(root: Path) -> Iterator[Imap]:
    mail = root / "mail"
    mail.mkdir()
    shutil.chown(mail, MAIL_USER, MAIL_GROUP)
    cafile, cert, key = _certificates(root)
    users = root / "users"
    uid, gid = pwd.getpwnam(MAIL_USER).pw_uid, grp.getgrnam(MAIL_GROUP).gr_gid
    users.write_text(f"{USER}:{{PLAIN}}{PASSWORD}:{uid}:{gid}::{mail / USER}::\n")
    users.chmod(0o644)
    plain = free_port()  # dovecot's own plain listener, behind the relay
    with _Relay(("127.0.0.1", plain)) as relay:
        imap = Imap("127.0.0.1", free_port(), relay.port, USER, PASSWORD, cafile, root)
        conf = root / "dovecot.conf"
        conf.write_text(_conf(root, imap, plain, cert, key))
        # In the foreground (-F): a daemonizing master would keep a captured stderr open for ever.
        with (root / "dovecot.stderr").open("wb") as stderr:
            master = subprocess.Popen([DOVECOT, "-F", "-c", str(conf)], stdin=subprocess.DEVNULL,
                                      stdout=stderr, stderr=stderr, start_new_session=True)  # fmt: skip
        try:
            _wait_for_listeners(imap, master, (imap.imaps_port, plain))
            yield imap
        finally:
            _stop(master)
            _wait_for_ports_closed(imap.host, (imap.imaps_port, plain))


class _Relay:
    """The plain port: each connection passed on, both ways, to dovecot's plain listener from
    127.0.0.2, so that dovecot sees a client from elsewhere (see the module's docstring)."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.sockets: set[socket.socket] = set()
        self.lock = threading.Lock()

    def __enter__(self) -> _Relay:
        threading.Thread(target=self._serve, daemon=True, name=f"dovecot-relay-{self.port}").start()
        return self

    def __exit__(self, *exc: object) -> None:
        with self.lock:
            for sock in (self.listener, *self.sockets):
                with suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)  # wakes a blocked accept() or recv(); close alone does not
                sock.close()
            self.sockets.clear()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._connect, args=(client,), daemon=True).start()

    def _connect(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.target, timeout=10, source_address=("127.0.0.2", 0))
            upstream.settimeout(None)
        except OSError:
            client.close()
            return
        with self.lock:
            self.sockets |= {client, upstream}
        pumps = [threading.Thread(target=self._pump, args=pair, daemon=True)
                 for pair in ((client, upstream), (upstream, client))]  # fmt: skip
        for pump in pumps:
            pump.start()
        for pump in pumps:
            pump.join()
        with self.lock:
            self.sockets -= {client, upstream}
        client.close()
        upstream.close()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        with suppress(OSError):
            while chunk := source.recv(65536):
                sink.sendall(chunk)
        with suppress(OSError):
            sink.shutdown(socket.SHUT_WR)


def _conf(root: Path, imap: Imap, plain: int, cert: Path, key: Path) -> str:
    return f"""\
base_dir = {root / "run"}
state_dir = {root / "state"}
instance_name = {root.name}
log_path = {imap.log}
protocols = imap
listen = {imap.host}
ssl = required
disable_plaintext_auth = yes
ssl_cert = <{cert}
ssl_key = <{key}
auth_mechanisms = plain login
auth_failure_delay = 0
auth_verbose = yes
mail_location = maildir:~/Maildir:LAYOUT=fs
mail_fsync = never
namespace inbox {{
  inbox = yes
  separator = /
}}
passdb {{
  driver = passwd-file
  args = {root / "users"}
}}
userdb {{
  driver = passwd-file
  args = {root / "users"}
}}
service imap-login {{
  inet_listener imap {{
    address = {imap.host}
    port = {plain}
  }}
  inet_listener imaps {{
    address = {imap.host}
    port = {imap.imaps_port}
    ssl = yes
  }}
}}
service anvil {{
  unix_listener anvil-auth-penalty {{  # no socket: auth turns its penalty off
    mode = 0
  }}
}}
protocol imap {{
  mail_max_userip_connections = 100
}}
"""


def _certificates(root: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate it signs, for IP 127.0.0.1 and DNS localhost. Valid five
    years either side of now, so a wall clock shifted a year ahead (tests/clockshift) still
    verifies it against OpenSSL's real time."""
    now = datetime.now(UTC)
    ca_key, server_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "digest test IMAP CA")])
    server_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=5 * 365))
        .not_valid_after(now + timedelta(days=5 * 365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(signs_certificates=True), critical=True)
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    server = (
        x509.CertificateBuilder()
        .subject_name(server_name)
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=5 * 365))
        .not_valid_after(now + timedelta(days=5 * 365))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(signs_certificates=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(server_key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    tls = root / "tls"
    tls.mkdir(mode=0o755)
    cafile, cert, key = tls / "ca.pem", tls / "server.pem", tls / "server.key"
    cafile.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert.write_bytes(server.public_bytes(serialization.Encoding.PEM))
    key.touch(mode=0o600)
    key.write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cafile, cert, key


def _key_usage(*, signs_certificates: bool) -> x509.KeyUsage:
    flags = dict.fromkeys(("content_commitment", "key_encipherment", "data_encipherment", "key_agreement"), False)
    return x509.KeyUsage(digital_signature=True, key_cert_sign=signs_certificates, crl_sign=signs_certificates,
                         encipher_only=False, decipher_only=False, **flags)  # fmt: skip


def _stop(master: subprocess.Popen[bytes]) -> None:
    """SIGKILL to the master and all its processes (its session): a graceful stop takes a
    second or more (the master sleeps a second after telling its processes to close their
    listeners), and nothing of this server outlives it anyway."""
    with suppress(ProcessLookupError):
        os.killpg(master.pid, signal.SIGKILL)
    master.wait()


def _wait_for_listeners(imap: Imap, master: subprocess.Popen[bytes], ports: tuple[int, ...]) -> None:
    """Until the master says it is starting up (it has its listeners then: a port taken by
    someone else is fatal before that line) and each port accepts a connection."""
    deadline = time.monotonic() + 20
    pending = list(ports)
    while pending:
        if master.poll() is not None or time.monotonic() > deadline:
            stderr = (imap.root / "dovecot.stderr").read_text(errors="replace").strip()
            why = f"exited with {master.returncode}" if master.returncode is not None else "timed out"
            raise RuntimeError(f"dovecot did not start ({why}): {stderr} {imap.lines()[-10:]}")
        if any("starting up" in line for line in imap.lines()[:5]):
            try:
                socket.create_connection((imap.host, pending[0]), timeout=1).close()
                pending.pop(0)
                continue
            except OSError:
                pass
        time.sleep(0.01)


def _wait_for_ports_closed(host: str, ports: tuple[int, ...]) -> None:
    deadline = time.monotonic() + 10
    for port in ports:
        while time.monotonic() < deadline:
            try:
                socket.create_connection((host, port), timeout=1).close()
            except OSError:
                break
            time.sleep(0.01)
