"""The bounce mailbox: a Maildir folder, or an IMAP folder over TLS (the standard library's
``imaplib``). Nothing is ever deleted: a report read is filed away (Maildir: into ``cur/``
marked seen; IMAP: moved to ``bounces.processed_folder``), and what could not be understood
is kept for a person (Maildir: ``cur/`` flagged, not seen; IMAP: moved to
``bounces.unmatched_folder``). Only mail not filed yet is read: a Maildir's ``new/``, and
messages in its ``cur/`` that are neither seen nor flagged; every message of the IMAP folder."""

from __future__ import annotations

import contextlib
import imaplib
import logging
import os
import re
import socket
import ssl
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from digest.errors import ConfigError, InputError

log = logging.getLogger("digest.bounces")

MAX_MESSAGE = 10_000_000  # a message larger than this is filed unread as unmatched
IMAP_TIMEOUT = 30.0


class Mailbox(Protocol):
    label: str  # what an error or a log line calls it (never with a password)
    source: str  # maildir | imap

    def messages(self) -> Iterator[tuple[str, bytes]]:
        """(handle, raw bytes) of each message not filed yet."""
        ...

    def file(self, handle: str, understood: bool) -> None:
        """Put a message away: read (understood) or kept for review."""
        ...

    def close(self) -> None: ...


class MaildirBox:
    source = "maildir"

    def __init__(self, path: Path) -> None:
        self.path, self.label = path, str(path)
        if not path.exists():
            raise InputError(f"{path}: no such folder (a Maildir, with new/ and cur/ in it)")
        for sub in ("new", "cur"):
            if (path / sub).is_symlink() or not (path / sub).is_dir():
                raise InputError(f"{path}: not a Maildir (it needs new/ and cur/ folders, not links to others)")

    def messages(self) -> Iterator[tuple[str, bytes]]:
        for sub in ("new", "cur"):
            for name in sorted(os.listdir(self.path / sub)):
                if name.startswith(".") or (sub == "cur" and set(_flags(name)) & {"S", "F", "T"}):
                    continue
                try:
                    raw = _read_regular(self.path / sub / name)
                except OSError as exc:  # not a file we may read: left where it is, and said
                    log.warning("%s/%s/%s: skipped (%s)", self.label, sub, name, exc.strerror or exc)
                    continue
                if raw is not None:
                    yield f"{sub}/{name}", raw

    def file(self, handle: str, understood: bool) -> None:
        sub, name = handle.split("/", 1)
        base = name.split(":", 1)[0]
        flags = "".join(sorted(set(_flags(name)) | {"S" if understood else "F"}))
        with contextlib.suppress(FileNotFoundError):  # another reader filed it first
            os.replace(self.path / sub / name, self.path / "cur" / f"{base}:2,{flags}")

    def close(self) -> None:
        pass


def _read_regular(path: Path) -> bytes | None:
    """A regular file's bytes, never through a link, a pipe or a device (b"" when over
    MAX_MESSAGE: filed unread); None when it is gone (another reader filed it first)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    with os.fdopen(fd, "rb") as file:
        info = os.fstat(file.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise OSError(0, "not a regular file")
        if info.st_size > MAX_MESSAGE:
            return b""
        return file.read(MAX_MESSAGE + 1)[:MAX_MESSAGE]


def _flags(name: str) -> str:
    _, info, flags = name.partition(":2,")
    return flags if info else ""


@dataclass(frozen=True)
class ImapUrl:
    host: str
    port: int
    user: str
    password: str
    folder: str
    tls: str  # implicit | starttls
    cafile: str | None

    @property
    def label(self) -> str:
        scheme = "imaps" if self.tls == "implicit" else "imap"
        return f"{scheme}://{self.user}@{self.host}:{self.port}/{self.folder}"


def parse_imap_url(url: str) -> ImapUrl:
    """``imaps://user:pass@host[:port]/FOLDER`` or ``imap://...?starttls=true``; a plain
    ``imap://`` without STARTTLS would send the password in the clear and is refused."""
    where = "the bounce mailbox"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - a bad port raises here
    except ValueError as exc:
        raise ConfigError(f"not a valid IMAP URL ({exc})", where=where) from None
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    unknown = set(query) - {"starttls", "cafile"}
    if parts.scheme not in ("imap", "imaps") or not parts.hostname:
        raise ConfigError("not an IMAP URL such as imaps://user:pass@imap.example.com/INBOX", where=where)
    if unknown:
        raise ConfigError(f"unknown IMAP URL option(s): {', '.join(sorted(unknown))} (starttls, cafile)", where=where)
    starttls = query.get("starttls", "").lower() in ("true", "1", "yes")
    if parts.scheme == "imap" and not starttls:
        raise ConfigError("imap:// would send the password in the clear: use imaps:// or add ?starttls=true",
                          where=where)  # fmt: skip
    if not parts.username or parts.password is None:
        raise ConfigError("the IMAP URL needs a user and a password: imaps://user:pass@host/INBOX (write @, /, # "
                          "or : in either as %40, %2F, %23 or %3A)", where=where)  # fmt: skip
    try:
        port = parts.port or (993 if parts.scheme == "imaps" else 143)
    except ValueError:
        raise ConfigError("the IMAP URL's port is not a number from 1 to 65535", where=where) from None
    folder = unquote(parts.path.lstrip("/")) or "INBOX"
    return ImapUrl(parts.hostname, port, unquote(parts.username), unquote(parts.password), folder,
                   "implicit" if parts.scheme == "imaps" else "starttls", query.get("cafile") or None)  # fmt: skip


class ImapBox:
    source = "imap"

    def __init__(self, url: ImapUrl, processed: str, unmatched: str, timeout: float = IMAP_TIMEOUT) -> None:
        self.url, self.label = url, url.label
        self.targets = {True: processed, False: unmatched}
        self.imap = self._connect(timeout)
        self._created: set[str] = set()
        typ, data = self._call(self.imap.capability)  # after login: a server names more (MOVE, UIDPLUS) than before
        said = data[0].decode("ascii", "replace") if typ == "OK" and data and isinstance(data[0], bytes) else ""
        self.capabilities = {c.upper() for c in said.split()} | {c.upper() for c in self.imap.capabilities}

    def _connect(self, timeout: float) -> imaplib.IMAP4:
        url = self.url
        try:
            context = ssl.create_default_context(cafile=url.cafile)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"cafile {url.cafile}: not a readable PEM file ({_reason(exc)})",
                              where="the bounce mailbox") from None  # fmt: skip
        try:
            if url.tls == "implicit":
                imap: imaplib.IMAP4 = imaplib.IMAP4_SSL(url.host, url.port, ssl_context=context, timeout=timeout)
            else:
                imap = imaplib.IMAP4(url.host, url.port, timeout=timeout)
                imap.starttls(ssl_context=context)
        except ssl.SSLError as exc:
            raise InputError(f"{url.label}: TLS failed ({_reason(exc)}); is the certificate trusted?") from None
        except (OSError, imaplib.IMAP4.error) as exc:
            raise InputError(f"{url.label}: cannot reach the IMAP server ({_reason(exc)})") from None
        try:
            imap.login(url.user, url.password)
        except imaplib.IMAP4.error:
            _logout(imap)
            raise InputError(f"{url.label}: the IMAP server refused the login of {url.user!r}") from None
        except OSError as exc:
            raise InputError(f"{url.label}: the connection dropped at login ({_reason(exc)})") from None
        typ, _ = self._call(imap.select, _quote(url.folder))
        if typ != "OK":
            _logout(imap)
            raise InputError(f"{url.label}: no folder {url.folder!r} on the IMAP server")
        return imap

    def _call(self, method: Callable[..., tuple[str, Any]], *args: object) -> tuple[str, Any]:
        try:
            return method(*args)
        except (OSError, imaplib.IMAP4.error) as exc:
            raise InputError(f"{self.label}: the IMAP server failed ({_reason(exc)})") from None

    def messages(self) -> Iterator[tuple[str, bytes]]:
        typ, data = self._call(self.imap.uid, "SEARCH", None, "UNDELETED")  # filed without MOVE: still there
        uids = data[0].split() if typ == "OK" and data and data[0] else []
        for uid in uids:
            typ, sized = self._call(self.imap.uid, "FETCH", uid, "(RFC822.SIZE)")
            size = re.search(rb"RFC822\.SIZE (\d+)", sized[0] if typ == "OK" and sized and sized[0] else b"")
            if size is None or int(size[1]) > MAX_MESSAGE:
                yield uid.decode(), b""  # filed unread, for a person
                continue
            typ, fetched = self._call(self.imap.uid, "FETCH", uid, "(BODY.PEEK[])")
            raw = next((item[1] for item in fetched or [] if isinstance(item, tuple) and len(item) == 2), None)
            if typ == "OK" and isinstance(raw, bytes):
                yield uid.decode(), raw[:MAX_MESSAGE]

    def file(self, handle: str, understood: bool) -> None:
        target = self.targets[understood]
        if target not in self._created:
            self._call(self.imap.create, _quote(target))  # NO when it exists already: fine
            self._created.add(target)
        capabilities = self.capabilities
        if "MOVE" in capabilities:
            typ, data = self._call(self.imap.uid, "MOVE", handle, _quote(target))
        else:  # no MOVE: copy, then mark the original deleted; expunge only it (UIDPLUS), never others'
            typ, data = self._call(self.imap.uid, "COPY", handle, _quote(target))
            if typ == "OK":
                self._call(self.imap.uid, "STORE", handle, "+FLAGS.SILENT", r"(\Seen \Deleted)")
                if "UIDPLUS" in capabilities:
                    self._call(self.imap.uid, "EXPUNGE", handle)
        if typ != "OK":
            raise InputError(f"{self.label}: could not move a message to {target!r}: {_text(data)}")

    def close(self) -> None:
        _logout(self.imap)


def _quote(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _logout(imap: imaplib.IMAP4) -> None:
    with contextlib.suppress(OSError, imaplib.IMAP4.error):
        imap.logout()


def _reason(exc: BaseException) -> str:
    if isinstance(exc, socket.timeout):
        return "timed out"
    text = str(exc) or type(exc).__name__
    return re.sub(r"\s+", " ", text)[:200]


def _text(data: object) -> str:
    if isinstance(data, list) and data and isinstance(data[0], bytes):
        return data[0].decode("utf-8", "replace")[:200]
    return str(data)[:200]


def open_mailbox(maildir: Path | None, imap: str | None, processed: str, unmatched: str) -> Mailbox:
    if maildir is not None and imap is not None:
        raise InputError("give --maildir or --imap, not both")
    if maildir is not None:
        return MaildirBox(maildir)
    if imap is not None:
        return ImapBox(parse_imap_url(imap), processed, unmatched)
    raise InputError("no bounce mailbox: give --maildir PATH or --imap URL, or bounces: in sources.yaml")
