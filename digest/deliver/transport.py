"""Mail transports: SMTP (one reused connection per worker) and Maildir (the default).

A transport sends the exact bytes it is given and says what happened:
  * returns a ``Reply`` when the message was accepted (250);
  * raises ``TemporaryFailure`` for a 4xx, or when the connection dropped before the end
    of DATA (the server cannot have accepted it, so it is safe to try again);
  * raises ``PermanentFailure`` for a 5xx (the reply is kept);
  * raises ``UnknownOutcome`` when the connection dropped after the end of DATA and before
    the reply: the message may or may not have been accepted, so it is never resent silently;
  * raises ``TransportError`` when it cannot reach the server at all (nothing was sent).
"""

from __future__ import annotations

import contextlib
import os
import smtplib
import socket
import ssl
import time
from dataclasses import dataclass
from itertools import count
from pathlib import Path
from typing import NamedTuple, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from digest.deliver.replies import bounces_reader, concern_of
from digest.errors import ConfigError, TransportError
from digest.render.mime import dot_stuffed


@dataclass(frozen=True)
class Reply:
    code: int
    text: str

    def __str__(self) -> str:
        return f"{self.code} {self.text}".strip()


class DeliveryProblem(Exception):
    """A message not accepted; ``concern`` says whether it is about the reader's mailbox or about us."""

    def __init__(self, reply: Reply, stage: str = "") -> None:
        super().__init__(str(reply))
        self.reply, self.stage = reply, stage
        self.concern = concern_of(reply.code, reply.text, stage)

    @property
    def bounces_reader(self) -> bool:
        return bounces_reader(self.reply.code, self.concern)


class TemporaryFailure(DeliveryProblem):
    """4xx, or the connection was lost before the end of DATA: try again later."""


class PermanentFailure(DeliveryProblem):
    """5xx: the server refused this message for good."""


class UnknownOutcome(DeliveryProblem):
    """Lost between the end of DATA and the reply: the message may have been accepted."""


class Next(NamedTuple):
    """The message that follows: its envelope may be sent ahead (RFC 2920), with its SIZE (RFC 1870)."""

    recipient: str
    size: int
    sender: str = ""  # its envelope sender, when not this message's (a VERP return path is per reader)


@dataclass(frozen=True)
class Prepared:
    """A message ready for a transport: its bytes, already dot-stuffed for SMTP DATA (RFC 5321
    4.5.2) when ``stuffed``, as the composer can make them at no cost per message. A sender
    asks for the form its transport takes (``Transport.stuffs``)."""

    data: bytes
    stuffed: bool = False


class Transport(Protocol):
    """Where messages go. A context manager: entering connects (an unreachable server stops
    a run before any message), leaving says goodbye."""

    stuffs: bool  # whether the transport sends dot-stuffed data (SMTP) or the message as is

    def connect(self) -> None: ...

    def send(self, sender: str, recipient: str, message: Prepared, then: Next | None = None) -> Reply:
        """``then``: the recipient and size of the next message, whose envelope an SMTP transport may
        send right behind this body (RFC 2920), saving a round trip; others ignore it."""
        ...

    def close(self) -> None: ...

    def __enter__(self) -> Transport: ...

    def __exit__(self, *_: object) -> None: ...


class _Connection:
    """Transports are context managers."""

    def connect(self) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> Transport:
        self.connect()
        return self  # type: ignore[return-value]

    def __exit__(self, *_: object) -> None:
        self.close()


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    implicit_tls: bool = False
    starttls: bool = False
    username: str | None = None
    password: str | None = None
    timeout: float = 30.0
    cafile: str | None = None
    helo: str | None = None  # the EHLO name; None: this host's fully qualified name

    def describe(self) -> str:
        scheme = "smtps" if self.implicit_tls else "smtp"
        user = f"{self.username}:***@" if self.username else ""
        return f"{scheme}://{user}{self.host}:{self.port}"


_YES, _NO = ("true", "yes", "on", "1"), ("false", "no", "off", "0")


def _flag(query: dict[str, str], key: str) -> bool:
    value = query.get(key, "false").strip().lower()
    if value not in _YES + _NO:
        raise ConfigError(f"{key}={query[key]!r}: expected true/false, yes/no or 1/0", where="DIGEST_SMTP_URL")
    return value in _YES


def parse_smtp_url(url: str, helo: str | None = None) -> SmtpSettings:
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ConfigError("expected smtp://host:port, smtps://host:465 or maildir:PATH", where="DIGEST_SMTP_URL")
    query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    unknown = set(query) - {"starttls", "timeout", "cafile"}
    if unknown:
        raise ConfigError(f"unknown option {sorted(unknown)[0]!r}", where="DIGEST_SMTP_URL")
    try:
        port = parts.port or (465 if parts.scheme == "smtps" else 25)
        timeout = float(query.get("timeout", 30))
    except ValueError as exc:
        raise ConfigError(str(exc), where="DIGEST_SMTP_URL") from None
    return SmtpSettings(
        host=parts.hostname, port=port, implicit_tls=parts.scheme == "smtps",
        starttls=_flag(query, "starttls"),
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        timeout=timeout, cafile=query.get("cafile") or None, helo=helo,
    )  # fmt: skip


def tls_context(cafile: str | None) -> ssl.SSLContext:
    """Certificates are always verified (smtplib does not verify without a context)."""
    return ssl.create_default_context(cafile=cafile)


def _unreachable(s: SmtpSettings, exc: BaseException) -> TransportError:
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return TransportError(f"{s.describe()} refused the login: {exc.smtp_code} {_text(exc.smtp_error)}".strip())
    if isinstance(exc, smtplib.SMTPConnectError):
        return TransportError(f"{s.describe()} refused the connection: {exc.smtp_code} {_text(exc.smtp_error)}")
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return TransportError(f"{s.describe()} does not offer what digest needs: {exc}")
    if isinstance(exc, ssl.SSLError):
        return TransportError(f"TLS with {s.describe()} failed: {exc.reason or exc}")
    return TransportError(f"cannot connect to {s.describe()}: {exc or type(exc).__name__}")


def _text(value: bytes | str) -> str:
    return " ".join((value.decode("utf-8", "replace") if isinstance(value, bytes) else value).split())


def _quit(smtp: smtplib.SMTP) -> None:
    """QUIT and hang up, whatever state the session is in."""
    with contextlib.suppress(smtplib.SMTPException, OSError):
        smtp.quit()
    with contextlib.suppress(OSError):
        smtp.close()


def _classify(code: int, text: bytes | str, stage: str) -> DeliveryProblem:
    reply = Reply(code, text.decode("utf-8", "replace") if isinstance(text, bytes) else text)
    reply = Reply(reply.code, " ".join(reply.text.split()))
    if 400 <= code < 500:
        return TemporaryFailure(reply, stage)
    if 500 <= code < 600:
        return PermanentFailure(reply, stage)
    return TemporaryFailure(Reply(code, f"unexpected reply at {stage}: {reply.text}"), stage)


MAX_REPLY_LINE = 4096


def _envelope_commands(sender: str, recipient: str, size: str) -> bytes:
    """MAIL, RCPT and DATA in one write (RFC 2920)."""
    return f"MAIL FROM:<{sender}>{size}\r\nRCPT TO:<{recipient}>\r\nDATA\r\n".encode()


class _Wire:
    """The connection after EHLO (and STARTTLS, AUTH): commands written and replies read
    straight on the socket. smtplib reads replies a line at a time through a file object,
    which costs more than the rest of a message; here a reply is split out of one buffer."""

    def __init__(self, smtp: smtplib.SMTP) -> None:
        assert smtp.sock is not None, "connected"
        self.smtp = smtp
        self.sock: socket.socket = smtp.sock
        self.buffer = b""

    def write(self, data: bytes) -> None:
        self.sock.sendall(data)

    def reply(self) -> tuple[int, bytes]:
        """One whole reply (all its lines); smtplib.SMTPServerDisconnected when the server hung up."""
        lines: list[bytes] = []
        while True:
            end = self.buffer.find(b"\n")
            while end < 0:
                if len(self.buffer) > MAX_REPLY_LINE:
                    raise smtplib.SMTPServerDisconnected("reply line too long")
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise smtplib.SMTPServerDisconnected("connection closed")
                self.buffer += chunk
                end = self.buffer.find(b"\n")
            line, self.buffer = self.buffer[: end + 1], self.buffer[end + 1 :]
            try:
                code = int(line[:3])
            except ValueError:
                raise smtplib.SMTPServerDisconnected(f"not an SMTP reply: {line[:60]!r}") from None
            lines.append(line[4:].strip())
            if line[3:4] != b"-":
                return code, b"\n".join(lines)


class SmtpTransport(_Connection):
    """One SMTP connection, reused for many messages; reconnects after a 421 or a drop."""

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        self._wire: _Wire | None = None
        self._primed: tuple[str, str] | None = None  # an envelope sent ahead, its replies not read yet
        self._size_limit: int | None = None  # the server's SIZE (RFC 1870), when it declares one

    def _connect(self) -> _Wire:
        s = self.settings
        helo = s.helo or socket.getfqdn()
        if s.implicit_tls:
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(local_hostname=helo, timeout=s.timeout, context=tls_context(s.cafile))
        else:
            smtp = smtplib.SMTP(local_hostname=helo, timeout=s.timeout)
        try:
            self._greet(smtp)
        except (OSError, smtplib.SMTPException) as exc:
            _quit(smtp)  # a refused greeting or login, or a missing STARTTLS, still ends with QUIT
            raise _unreachable(s, exc) from None
        size = smtp.esmtp_features.get("size", "").strip()
        self._size_limit = int(size) if size.isdigit() and int(size) > 0 else None
        return _Wire(smtp)

    def _greet(self, smtp: smtplib.SMTP) -> None:
        s = self.settings
        smtp._host = s.host  # type: ignore[attr-defined]  # what STARTTLS checks the certificate against
        code, text = smtp.connect(s.host, s.port)
        if code != 220:
            raise smtplib.SMTPConnectError(code, text)
        smtp.ehlo()
        if s.starttls:
            smtp.starttls(context=tls_context(s.cafile))
            smtp.ehlo()
        if s.username:
            smtp.login(s.username, s.password or "")

    def connect(self) -> None:
        """Open the connection now, so an unreachable server stops a run before any message."""
        if self._wire is None:
            self._wire = self._connect()

    def _drop(self) -> None:
        self._primed = None
        if self._wire is not None:
            with contextlib.suppress(OSError):
                self._wire.smtp.close()
        self._wire = None

    stuffs = True

    def send(self, sender: str, recipient: str, message: Prepared, then: Next | None = None) -> Reply:
        if self._primed is not None and self._primed != (sender, recipient):
            self._drop()  # the envelope sent ahead was for someone else: end that transaction unfinished
        if self._wire is None:
            self._wire = self._connect()
        wire = self._wire
        payload = message.data if message.stuffed else dot_stuffed(message.data)
        if not payload.endswith(b"\r\n"):
            payload += b"\r\n"
        self._refuse_oversize(len(payload))
        try:
            return self._transaction(wire, sender, recipient, payload, then)
        except DeliveryProblem as problem:
            if problem.reply.code == 421 or isinstance(problem, UnknownOutcome) or problem.reply.code == 0:
                self._drop()
            elif self._primed is None:  # (with the next envelope sent ahead, a new transaction has begun)
                self._reset(wire)
            raise

    def _oversize(self, size: int) -> bool:
        return self._size_limit is not None and size > self._size_limit

    def _refuse_oversize(self, size: int) -> None:
        """Never send what the server said it will not take (RFC 1870)."""
        if self._oversize(size):
            if self._primed is not None:
                self._drop()  # the server waits for this body: hang up rather than send it
            reply = Reply(552, f"5.3.4 not sent: the message ({size:,} bytes) is over the server's SIZE limit "
                          f"({self._size_limit:,} bytes)")  # fmt: skip
            raise PermanentFailure(reply, "MAIL")

    def _size(self, wire: _Wire, size: int) -> str:
        """The SIZE parameter of MAIL FROM, when the server offers the extension."""
        return f" SIZE={size}" if wire.smtp.has_extn("size") else ""

    def _transaction(self, wire: _Wire, sender: str, recipient: str, payload: bytes, then: Next | None) -> Reply:
        stage = "MAIL"
        pipelining = wire.smtp.has_extn("pipelining")
        try:
            if self._primed is not None:
                self._primed = None
                stage = self._envelope_replies(wire)
            elif pipelining:
                wire.write(_envelope_commands(sender, recipient, self._size(wire, len(payload))))
                stage = self._envelope_replies(wire)
            else:
                stage = self._envelope(wire, sender, recipient, self._size(wire, len(payload)))
            wire.write(payload + b".\r\n")
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            raise TemporaryFailure(Reply(0, f"connection lost at {stage}: {exc or 'disconnected'}"), stage) from None
        try:
            if then is not None and pipelining and not self._oversize(then.size):  # RFC 2920: it may follow DATA
                then_sender = then.sender or sender
                wire.write(_envelope_commands(then_sender, then.recipient, self._size(wire, then.size)))
                self._primed = (then_sender, then.recipient)
            code, text = wire.reply()
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            raise UnknownOutcome(Reply(0, f"connection lost after the end of DATA: {exc or 'disconnected'}")) from None
        if code != 250:
            raise _classify(code, text, "end of DATA")
        return Reply(code, text.decode("utf-8", "replace"))

    @staticmethod
    def _command(wire: _Wire, line: str) -> tuple[int, bytes]:
        wire.write(line.encode("utf-8") + b"\r\n")
        return wire.reply()

    def _envelope(self, wire: _Wire, sender: str, recipient: str, size: str) -> str:
        """MAIL, RCPT and DATA one at a time; returns the stage reached (DATA: ready for the body)."""
        code, text = self._command(wire, f"MAIL FROM:<{sender}>{size}")
        if code != 250:
            raise _classify(code, text, "MAIL")
        code, text = self._command(wire, f"RCPT TO:<{recipient}>")
        if code not in (250, 251):
            raise _classify(code, text, "RCPT")
        code, text = self._command(wire, "DATA")
        if code != 354:
            raise _classify(code, text, "DATA")
        return "DATA"

    def _envelope_replies(self, wire: _Wire) -> str:
        """RFC 2920: the replies to MAIL, RCPT and DATA, written in one go."""
        (mail, mail_text), (rcpt, rcpt_text), (data, data_text) = wire.reply(), wire.reply(), wire.reply()
        problem = None
        if mail != 250:
            problem = _classify(mail, mail_text, "MAIL")
        elif rcpt not in (250, 251):
            problem = _classify(rcpt, rcpt_text, "RCPT")
        elif data != 354:
            problem = _classify(data, data_text, "DATA")
        if problem is None:
            return "DATA"
        if data == 354:  # the server wants a body although the envelope failed: end it empty
            wire.write(b".\r\n")
            wire.reply()
        raise problem

    def _reset(self, wire: _Wire) -> None:
        try:
            code, _ = self._command(wire, "RSET")
        except (smtplib.SMTPException, OSError):
            code = 0
        if code != 250:
            self._drop()

    def close(self) -> None:
        if self._wire is not None and self._primed is None:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                self._command(self._wire, "QUIT")
        self._drop()  # with an envelope sent ahead, hanging up ends that transaction without a message


class MaildirTransport(_Connection):
    """Writes each message into a Maildir (tmp/ then rename into new/), as a local MDA would."""

    _sequence = count()

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            for sub in ("tmp", "new", "cur"):
                (path / sub).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise TransportError(f"cannot create the Maildir {path}: {exc.strerror or exc}") from None

    stuffs = False

    def send(self, sender: str, recipient: str, message: Prepared, then: Next | None = None) -> Reply:
        if message.stuffed:
            raise ValueError("a Maildir takes the message as it is, not dot-stuffed")
        data = message.data
        name = f"{time.time():.6f}.P{os.getpid()}Q{next(self._sequence)}.{socket.gethostname()}"
        tmp, new = self.path / "tmp" / name, self.path / "new" / name
        try:
            with open(tmp, "xb") as handle:
                handle.write(data.replace(b"\r\n", b"\n"))
                handle.flush()
                os.fsync(handle.fileno())
            os.rename(tmp, new)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise TemporaryFailure(Reply(0, f"cannot write to {self.path}: {exc.strerror or exc}")) from None
        return Reply(250, f"delivered to {new.name}")


def check_smtp_url(url: str) -> None:
    """A ConfigError when DIGEST_SMTP_URL cannot be used: the commands that mail check it first."""
    if url.startswith("maildir:"):
        _maildir_path(url)
    else:
        parse_smtp_url(url)


def _maildir_path(url: str) -> Path:
    path = url.removeprefix("maildir:").removeprefix("//")
    if not path:
        raise ConfigError("maildir: needs a folder, e.g. maildir:./outbox", where="DIGEST_SMTP_URL")
    return Path(path).expanduser().absolute()


def open_transport(url: str, helo: str | None = None) -> Transport:
    """``maildir:PATH`` (relative to the current folder), ``smtp://`` or ``smtps://``;
    ``helo``: the name an SMTP transport gives in EHLO (default: this host's FQDN)."""
    if url.startswith("maildir:"):
        return MaildirTransport(_maildir_path(url))
    return SmtpTransport(parse_smtp_url(url, helo))
