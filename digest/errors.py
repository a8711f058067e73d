"""The errors digest raises on purpose.

Every error an operator or a feed can cause is a ``DigestError``; the CLI turns
it into one ``Error: ...`` line and a non-zero exit. Anything else is a bug.

    DigestError
    ├── ConfigError        sources.yaml or a DIGEST_* variable is wrong
    ├── DatabaseError      the database cannot be reached, failed mid-work, or is not initialised
    ├── SourceError        one source could not be fetched or parsed (recorded, not fatal)
    │   ├── FetchError     HTTP status, timeout, size cap, redirect cap, missing file
    │   └── ParseError     bad XML, invalid JSON, unknown shape
    ├── TransportError     the mail server cannot be reached or refuses us altogether
    ├── RelayRefused       the mail server refused message after message, not for the readers' sake
    ├── BadToken           a link's token is damaged, forged or made for another purpose
    ├── HookRefused        a provider's webhook request not acted on: its HTTP status and why
    │                      (defined with the hooks, ``digest.feedback.hooks``)
    └── InputError         a bad value given on the command line or in a file
        ├── SubscriberError  a bad address or subscriber value (with its line in a file)
        └── SendAborted      a send the mail server or the database stopped (carries its report)

Database errors (SQLAlchemy's) become ``DatabaseError`` in one place, ``digest.db``.
"""

from __future__ import annotations

from typing import Any


class DigestError(Exception):
    """Base of every error digest raises on purpose."""

    exit_code = 1

    def __str__(self) -> str:
        text = super().__str__()
        return " ".join(text.split())  # always one line


class ConfigError(DigestError):
    """Configuration is invalid; ``where`` names the file and field."""

    exit_code = 2

    def __init__(self, message: str, where: str = "") -> None:
        self.where = where
        super().__init__(f"{where}: {message}" if where else message)


class DatabaseError(DigestError):
    """The database is unreachable, or its schema is not what this version expects."""

    exit_code = 3


class SourceError(DigestError):
    """One source failed; the others go on."""


class FetchError(SourceError):
    """The source could not be downloaded or read."""


class ParseError(SourceError):
    """The source was read but its content is not a feed we understand."""


class InputError(DigestError):
    """A bad value from the command line or an input file."""


class SubscriberError(InputError):
    """A bad address or value; ``line`` is the physical line of the input file, when there is one."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


class SendAborted(InputError):
    """The run stopped early (the mail server cannot be reached or refuses us, the database
    failed); ``report`` says how far it got."""

    exit_code = 7

    def __init__(self, message: str, report: Any) -> None:
        super().__init__(message)
        self.report = report


class TransportError(DigestError):
    """The mail server cannot be reached or refuses us altogether (nothing was sent)."""


class RelayRefused(DigestError):
    """The mail server refused message after message for a reason that is not the readers'."""


class BadToken(DigestError):
    """A token that is damaged, forged, or made for another purpose."""
