"""Reading SMTP refusals: only the reader's own mailbox condition bounces the reader."""

from __future__ import annotations

import pytest

from digest.deliver.replies import Concern, bounces_reader, concern_of, enhanced_code

CASES = [
    # (code, text, stage, concern, bounces the reader)
    (550, "5.1.1 <ada@example.com>: Recipient address rejected: User unknown", "RCPT", Concern.MAILBOX, True),
    (550, "5.2.1 mailbox disabled", "RCPT", Concern.MAILBOX, True),
    (550, "5.1.10 null MX", "RCPT", Concern.MAILBOX, True),
    (550, "5.1.1 user unknown", "end of DATA", Concern.MAILBOX, True),
    (550, "no such user here", "RCPT", Concern.RECIPIENT, False),  # no enhanced code: too little to suppress
    (550, "relay not permitted", "RCPT", Concern.RECIPIENT, False),  # Exim's answer to a sender it refuses
    (550, "Authentication required", "RCPT", Concern.RECIPIENT, False),
    (553, "sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)", "RCPT", Concern.RECIPIENT, False),
    (550, "5.7.1: rejected by policy", "RCPT", Concern.POLICY, False),  # a colon right after the code
    (450, "greylisted, try again", "RCPT", Concern.RECIPIENT, False),
    (552, "5.2.2 mailbox full", "RCPT", Concern.MAILBOX_STATE, False),
    (452, "4.2.2 mailbox full", "RCPT", Concern.MAILBOX_STATE, False),
    (554, "5.7.1 Client host rejected: Access denied", "RCPT", Concern.POLICY, False),
    (554, "5.7.1 <ada@example.com>: Relay access denied", "RCPT", Concern.POLICY, False),
    (535, "5.7.8 Error: authentication failed", "RCPT", Concern.AUTH, False),
    (530, "Authentication required", "MAIL", Concern.AUTH, False),
    (530, "5.7.0 Authentication required", "RCPT", Concern.POLICY, False),
    (552, "5.3.4 Message size exceeds fixed limit", "end of DATA", Concern.SIZE, False),
    (552, "message file too big", "end of DATA", Concern.SIZE, False),
    (552, "5.2.3 message too long", "end of DATA", Concern.SIZE, False),
    (550, "5.6.0 content rejected", "end of DATA", Concern.CONTENT, False),
    (550, "spam detected", "end of DATA", Concern.POLICY, False),  # a bare 550 after DATA is not the mailbox
    (554, "transaction failed", "end of DATA", Concern.POLICY, False),
    (501, "5.5.4 syntax error in parameters", "RCPT", Concern.PROTOCOL, False),
    (503, "bad sequence of commands", "DATA", Concern.PROTOCOL, False),
    (553, "5.1.8 sender address rejected: domain not found", "MAIL", Concern.SENDER, False),
    (550, "5.1.1 unknown sender", "MAIL", Concern.SENDER, False),  # MAIL FROM is about our address
    (550, "no such user", "MAIL", Concern.SENDER, False),
    (553, "5.1.7 bad sender address syntax", "RCPT", Concern.SENDER, False),
    (451, "4.3.0 temporary lookup failure", "RCPT", Concern.SYSTEM, False),
    (421, "service not available", "MAIL", Concern.SYSTEM, False),
    (554, "5.4.4 unable to route", "RCPT", Concern.SYSTEM, False),
    (0, "connection lost at RCPT", "RCPT", Concern.CONNECTION, False),
]


@pytest.mark.parametrize(("code", "text", "stage", "concern", "bounces"), CASES)
def test_each_refusal_is_read_by_its_code(code: int, text: str, stage: str, concern: Concern, bounces: bool) -> None:
    assert concern_of(code, text, stage) is concern
    assert bounces_reader(code, concern) is bounces


def test_a_temporary_mailbox_condition_never_bounces() -> None:
    assert concern_of(450, "4.1.1 try later", "RCPT") is Concern.MAILBOX
    assert not bounces_reader(450, Concern.MAILBOX)


def test_enhanced_codes_are_read_only_at_the_start_of_the_text() -> None:
    assert enhanced_code("5.1.1 <a@b>: unknown") == (5, 1, 1)
    assert enhanced_code("  4.7.1 greylisted") == (4, 7, 1)
    assert enhanced_code("rejected, see 5.1.1") is None
    assert enhanced_code("5.1.1.2 odd") is None
    assert enhanced_code("") is None
