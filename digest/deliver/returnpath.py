"""The envelope sender (MAIL FROM) of each message: where its bounce goes.

``delivery.return_path`` is a plain address (``bounces@example.com``), or a VERP one
(``bounces+{token}@example.com``) whose token is signed and names the reader and the issue
(``Signer.return_token``), so a bounce ties to exactly one delivery. Without it, the From
address is the envelope sender, as before."""

from __future__ import annotations

from dataclasses import dataclass

from digest.config import VERP_LENGTH, VERP_TOKEN, Config
from digest.errors import BadToken
from digest.render.mime import sender_parts
from digest.tokens import Link, Signer


@dataclass(frozen=True)
class ReturnPath:
    template: str  # an address, perhaps with {token} in its local part
    signer: Signer

    @classmethod
    def of(cls, config: Config, signer: Signer) -> ReturnPath:
        return cls(config.file.delivery.return_path or sender_parts(config.newsletter.sender)[1], signer)

    @property
    def verp(self) -> bool:
        return VERP_TOKEN in self.template

    @property
    def plain(self) -> str:
        """The address without a token (test copies, confirmation mail), ``+`` and all."""
        local, _, domain = self.template.rpartition("@")
        return f"{local.replace('+' + VERP_TOKEN, '').replace(VERP_TOKEN, '')}@{domain}"

    def for_reader(self, public_id: str, issue_id: int) -> str:
        if not self.verp:
            return self.template
        return self.template.replace(VERP_TOKEN, self.signer.return_token(public_id, issue_id))

    def read(self, address: str) -> Link | None:
        """The reader and issue a bounce's recipient names, when it is one of our VERP addresses
        with a genuine token (any letter case); else None."""
        if not self.verp:
            return None
        local, _, domain = address.strip().strip("<>").rpartition("@")
        t_local, _, t_domain = self.template.rpartition("@")
        prefix, _, suffix = t_local.partition(VERP_TOKEN)
        if domain.lower() != t_domain.lower() or len(local) != len(prefix) + VERP_LENGTH + len(suffix):
            return None
        if not (local.lower().startswith(prefix.lower()) and local.lower().endswith(suffix.lower())):
            return None
        try:
            return self.signer.verify_return(local[len(prefix) : len(prefix) + VERP_LENGTH])
        except BadToken:
            return None
