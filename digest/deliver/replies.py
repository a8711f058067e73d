"""What an SMTP refusal is about: the reader's mailbox, or the message and whoever sent it.

A reply is read by its enhanced status code (RFC 3463, ``5.1.1`` at the start of the text),
and by its basic code and the step it answered where there is none. Only a mailbox
condition is the reader's: the address does not exist or is disabled (``X.1.x`` but the
sender's ``X.1.7``/``X.1.8``, and ``X.2.1``). Everything else, a refused login, a policy,
the message's size or content, a protocol error, a mail system in trouble, is about us: it
fails the message and leaves the reader alone. A bare 550 to RCPT says too little to
suppress anyone: relays answer "550 relay not permitted" to a sender they refuse as
readily as "550 no such user"; it fails the message, as a refusal of that recipient.

    >>> concern_of(550, "5.1.1 <ada@example.com>: Recipient address rejected", "RCPT")
    <Concern.MAILBOX: 'mailbox'>
    >>> concern_of(554, "5.7.1 <ada@example.com>: Relay access denied", "RCPT")
    <Concern.POLICY: 'policy'>
    >>> concern_of(550, "relay not permitted", "RCPT")
    <Concern.RECIPIENT: 'recipient'>
"""

from __future__ import annotations

import re
from enum import StrEnum

_ENHANCED = re.compile(r"([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])")


class Concern(StrEnum):
    """What a refusal is about. Only MAILBOX, when permanent, bounces the reader."""

    MAILBOX = "mailbox"  # no such mailbox, or disabled: the reader's address is bad
    MAILBOX_STATE = "mailbox state"  # full, or another state of an existing mailbox: try again later
    RECIPIENT = "recipient"  # this recipient refused, and no enhanced code says why
    SENDER = "sender"  # our envelope sender is refused
    AUTH = "auth"  # a login is needed, or ours was refused
    POLICY = "policy"  # the server will not take mail from us (relay denied, blocked, DMARC...)
    SIZE = "size"  # the message is too big for the server
    CONTENT = "content"  # the message's content or format is refused
    PROTOCOL = "protocol"  # a command or its syntax is refused
    SYSTEM = "system"  # the mail system or the network is in trouble
    CONNECTION = "connection"  # no reply at all: the connection dropped


MAILBOX_CONCERNS = (Concern.MAILBOX, Concern.MAILBOX_STATE)  # the reader's own mailbox, for good or for now


def enhanced_code(text: str) -> tuple[int, int, int] | None:
    """The RFC 3463 code at the start of a reply's text: ``(5, 1, 1)``, or None."""
    found = _ENHANCED.match(text.lstrip())
    return (int(found[1]), int(found[2]), int(found[3])) if found else None


def concern_of(code: int, text: str, stage: str) -> Concern:
    """What the reply ``code text`` to ``stage`` (MAIL, RCPT, DATA, end of DATA) is about."""
    if code == 0:
        return Concern.CONNECTION
    enhanced = enhanced_code(text)
    concern = _by_enhanced(*enhanced[1:]) if enhanced else _by_basic(code, stage)
    if stage == "MAIL" and concern in (Concern.MAILBOX, Concern.MAILBOX_STATE):
        return Concern.SENDER  # a refusal of MAIL FROM is about our address, never a reader's
    return concern


def bounces_reader(code: int, concern: Concern) -> bool:
    """A permanent mailbox condition: the reader's address is suppressed."""
    return 500 <= code < 600 and concern is Concern.MAILBOX


def _by_enhanced(subject: int, detail: int) -> Concern:
    if subject == 1:
        return Concern.SENDER if detail in (7, 8) else Concern.MAILBOX
    if subject == 2:
        return {1: Concern.MAILBOX, 3: Concern.SIZE, 4: Concern.SYSTEM}.get(detail, Concern.MAILBOX_STATE)
    if subject == 3:
        return Concern.SIZE if detail == 4 else Concern.SYSTEM
    if subject == 5:
        return Concern.PROTOCOL
    if subject == 6:
        return Concern.CONTENT
    if subject == 7:
        return Concern.AUTH if detail in (8, 9, 11, 12, 13) else Concern.POLICY
    return Concern.SYSTEM  # X.0.x and X.4.x: undefined, or network and routing


_BASIC_RCPT = {450: Concern.RECIPIENT, 452: Concern.RECIPIENT, 550: Concern.RECIPIENT, 551: Concern.RECIPIENT,
               552: Concern.RECIPIENT, 553: Concern.RECIPIENT, 556: Concern.RECIPIENT}  # fmt: skip
_BASIC = {421: Concern.SYSTEM, 530: Concern.AUTH, 534: Concern.AUTH, 535: Concern.AUTH, 538: Concern.AUTH,
          552: Concern.SIZE, 554: Concern.POLICY, 550: Concern.POLICY, 553: Concern.SENDER}  # fmt: skip


def _by_basic(code: int, stage: str) -> Concern:
    """RFC 5321's basic codes, where the server gave no enhanced code."""
    if stage == "RCPT" and code in _BASIC_RCPT:
        return _BASIC_RCPT[code]
    if stage == "MAIL" and code in (550, 551, 553):
        return Concern.SENDER
    if code in _BASIC:
        return _BASIC[code]
    if code in (500, 501, 502, 503, 504, 455, 555):
        return Concern.PROTOCOL
    return Concern.SYSTEM
