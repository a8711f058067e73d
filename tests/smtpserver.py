"""A real SMTP server (aiosmtpd) for tests, with faults on demand: 4xx/5xx replies at RCPT or
at the end of DATA, and dropped connections after the end of DATA, per recipient."""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP


@dataclass
class Faults:
    rcpt: dict[str, str] = field(default_factory=dict)  # address -> reply, e.g. "550 5.1.1 no such user"
    data: dict[str, str] = field(default_factory=dict)  # address -> reply at the end of DATA
    drop_after_data: set[str] = field(default_factory=set)  # accept nothing, just hang up
    once: bool = True  # each fault fires once per address, then the address is accepted
    delay: float = 0.0  # seconds per message, to give a killer time to strike
    chaos: float = 0.0  # share of transactions hit by a random fault at a random step
    seed: int = 7
    pipelining: bool = True  # advertise RFC 2920 (aiosmtpd reads pipelined commands in order anyway)
    every_rcpt: str | None = None  # the reply to every RCPT, e.g. "554 5.7.1 Client host rejected: Access denied"
    every_data: str | None = None  # the reply at the end of every DATA
    size_limit: int = 10_000_000  # SIZE in EHLO; bigger messages are refused (552)
    login: tuple[str, str] | None = None  # AUTH LOGIN/PLAIN offered, and only this user and password pass
    go_away_after: int | None = None  # after this many messages: 421 at the next DATA, hang up, stop listening


@dataclass
class MailSink:
    faults: Faults = field(default_factory=Faults)
    messages: list[tuple[str, bytes]] = field(default_factory=list)  # (recipient, raw message)
    fired: Counter[str] = field(default_factory=Counter)
    connections: int = 0
    helos: list[str] = field(default_factory=list)  # the name given in each EHLO
    mail_options: list[list[str]] = field(default_factory=list)  # the parameters of each MAIL FROM
    senders: dict[str, str] = field(default_factory=dict)  # recipient: the envelope sender of their last message
    quits: int = 0
    port: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop_listening: Any = None  # set by smtp_server: closes the listening socket

    def received(self) -> Counter[str]:
        with self.lock:
            return Counter(rcpt for rcpt, _ in self.messages)

    def __post_init__(self) -> None:
        import random

        self.rng = random.Random(self.faults.seed)

    def _chaos(self, step: str) -> str | None:
        """A random fault for this step: a 421, 451 or 550 reply, or 'drop' (hang up)."""
        if not self.faults.chaos:
            return None
        with self.lock:
            if self.rng.random() >= self.faults.chaos / 3:  # three steps: MAIL, RCPT, DATA
                return None
            return self.rng.choice(["421 4.3.2 shutting down", "451 4.3.0 try again", "550 5.7.1 refused", "drop"])

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        fault = self._chaos("MAIL")
        if fault == "drop":
            server.transport.close()
            return "250 OK"
        if fault:
            return fault
        with self.lock:
            self.mail_options.append(list(options))
        envelope.mail_from = address
        return "250 OK"

    def _fault(self, table: dict[str, str] | set[str], address: str) -> Any:
        if address not in table:
            return None
        with self.lock:
            if self.faults.once and self.fired[address]:
                return None
            self.fired[address] += 1
        return table[address] if isinstance(table, dict) else True

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        with self.lock:
            self.connections += 1
            self.helos.append(hostname)
        session.host_name = hostname
        if self.faults.pipelining:
            responses.insert(-1, "250-PIPELINING")
        return responses

    async def handle_QUIT(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.quits += 1
        return "221 Bye"

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if self.faults.login and not session.authenticated:
            return "530 5.7.0 Authentication required"
        reply = self.faults.every_rcpt or self._fault(self.faults.rcpt, address) or self._chaos("RCPT")
        if reply == "drop":
            server.transport.close()
            return "250 OK"
        if reply:
            return str(reply)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.faults.delay:
            await asyncio.sleep(self.faults.delay)
        rcpt = envelope.rcpt_tos[0]
        if self.faults.go_away_after is not None and len(self.messages) >= self.faults.go_away_after:
            self.stop_listening()
            server.transport.close()
            return "421 4.3.2 going away"
        if self._fault(self.faults.drop_after_data, rcpt):
            with self.lock:
                self.messages.append((rcpt, envelope.original_content))
            server.transport.close()  # the message arrived; the reply never will
            return "250 OK"
        reply = self.faults.every_data or self._fault(self.faults.data, rcpt) or self._chaos("DATA")
        if reply == "drop":  # after the end of DATA: the message arrived, the reply never will
            with self.lock:
                self.messages.append((rcpt, envelope.original_content))
            server.transport.close()
            return "250 OK"
        if reply:
            return str(reply)
        with self.lock:
            self.messages.append((rcpt, envelope.original_content))
            self.senders[rcpt] = envelope.mail_from
        return "250 2.0.0 queued"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class _Controller(Controller):
    def __init__(self, sink: MailSink, tls: ssl.SSLContext | None, port: int | None = None, **kwargs: Any) -> None:
        self.sink, self.tls = sink, tls
        super().__init__(sink, hostname="127.0.0.1", port=port or free_port(), **kwargs)

    def factory(self) -> SMTP:
        faults = self.sink.faults
        login = {"authenticator": self._authenticate, "auth_require_tls": False} if faults.login else {}
        return SMTP(self.handler, tls_context=self.tls, require_starttls=False, enable_SMTPUTF8=True,
                    data_size_limit=faults.size_limit, **login)  # fmt: skip

    def _authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        from aiosmtpd.smtp import AuthResult, LoginPassword

        wanted = self.sink.faults.login
        ok = isinstance(data, LoginPassword) and wanted == (data.login.decode(), data.password.decode())
        return AuthResult(success=ok, handled=False)


@contextmanager
def smtp_server(
    faults: Faults | None = None, tls: ssl.SSLContext | None = None, port: int | None = None
) -> Iterator[MailSink]:
    """``port``: listen there (a relay that comes back where it was), else on a free port."""
    sink = MailSink(faults=faults or Faults())
    controller = _Controller(sink, tls, port)
    controller.start()
    sink.port = controller.port
    sink.stop_listening = lambda: controller.server.close()
    try:
        yield sink
    finally:
        time.sleep(0.05)
        controller.stop()
