"""Optional DKIM signatures (dkimpy), relaxed/relaxed, covering the one-click headers.

dkimpy's default header list lacks List-Unsubscribe-Post; RFC 8058 wants both
List-Unsubscribe headers signed, so the list is given here."""

from __future__ import annotations

from dataclasses import dataclass

import dkim

from digest.config import Config
from digest.errors import ConfigError

SIGNED_HEADERS = [
    b"from", b"to", b"subject", b"date", b"message-id", b"list-unsubscribe", b"list-unsubscribe-post",
    b"list-id", b"feedback-id", b"mime-version", b"content-type", b"reply-to",
]  # fmt: skip


KEY_FIELD = "sources.yaml: delivery.dkim.key_file"


@dataclass(frozen=True)
class DkimSigner:
    selector: bytes
    domain: bytes
    key: bytes

    def sign(self, message: bytes) -> bytes:
        """The message with a DKIM-Signature header in front."""
        signature = dkim.sign(
            message, self.selector, self.domain, self.key,
            canonicalize=(b"relaxed", b"relaxed"), include_headers=SIGNED_HEADERS, linesep=b"\r\n",
        )  # fmt: skip
        return bytes(signature) + message


def dkim_signer(config: Config) -> DkimSigner | None:
    settings = config.file.delivery.dkim
    if settings is None:
        return None
    path = config.path(settings.key_file)
    try:
        key = path.read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"cannot read the DKIM key {path}: {exc.strerror or exc}", where="delivery.dkim.key_file"
        ) from None
    if b"PRIVATE KEY" not in key:
        raise ConfigError(f"{path} is not a PEM private key", where="delivery.dkim.key_file")
    return DkimSigner(settings.selector.encode(), settings.domain.encode(), key)
