"""Reading what comes back: DSNs in the shapes the big providers send, ARF reports,
auto-replies, text bounces; and whatever bytes a stranger mails, read without a traceback."""

from __future__ import annotations

import doctest

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from digest.feedback import reports
from digest.feedback.reports import Kind, parse
from tests import reports as shapes

OURS = "<digest.2026-W49.0123456789abcdef0123456789abcdef.abcdefghijklmn23@example.com>"
ORIGINAL = (f"From: Product People Weekly <digest@example.com>\r\nTo: ada@example.org\r\nSubject: Week 49\r\n"
            f"Message-ID: {OURS}\r\n\r\nbody\r\n").encode()  # fmt: skip
CITED = (("2026-W49", "0123456789abcdef0123456789abcdef", "abcdefghijklmn23"),)


def test_the_rules_in_the_docstring_hold() -> None:
    assert doctest.testmod(reports).failed == 0


def gmail_dsn(status: str, diagnostic: str, action: str = "failed") -> bytes:
    return f"""Delivered-To: bounces@example.com
Return-Path: <>
From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>
To: bounces@example.com
Auto-Submitted: auto-replied
Subject: Delivery Status Notification (Failure)
Message-ID: <5f1e3c2a.gmail.bounce@mx.google.com>
Content-Type: multipart/report; boundary="000000000000abc"; report-type=delivery-status

--000000000000abc
Content-Type: multipart/related; boundary="000000000000def"

--000000000000def
Content-Type: text/html; charset="UTF-8"

<html><p>Address not found</p></html>
--000000000000def--
--000000000000abc
Content-Type: message/delivery-status

Reporting-MTA: dns; googlemail.com
Received-From-MTA: dns; mail.example.com
Arrival-Date: Fri, 04 Dec 2026 12:01:02 -0800 (PST)

Final-Recipient: rfc822; ada@example.org
Action: {action}
Status: {status}
Remote-MTA: dns; gmail-smtp-in.l.google.com. (2607:f8b0::1b)
Diagnostic-Code: smtp; {diagnostic}
Last-Attempt-Date: Fri, 04 Dec 2026 12:01:03 -0800 (PST)

--000000000000abc
Content-Type: message/rfc822

{ORIGINAL.decode().replace(chr(13), "")}
--000000000000abc--
""".replace("\n", "\r\n").encode()


def office365_ndr() -> bytes:
    return f"""From: Microsoft Outlook <MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e@example.onmicrosoft.com>
To: <bounces+abc@example.com>
Subject: Undeliverable: Week 49
Content-Type: multipart/report; report-type=delivery-status;
\tboundary="_ndr_"
Message-ID: <ndr-1@EUR01.prod.outlook.com>
Auto-Submitted: auto-replied

--_ndr_
Content-Type: text/plain; charset="us-ascii"

Your message to ada@example.org couldn't be delivered.

--_ndr_
Content-Type: message/delivery-status

Reporting-MTA: dns;EUR01.prod.outlook.com
Received-From-MTA: dns;mail.example.com

Final-Recipient: rfc822;ada@example.org
Action: failed
Status: 5.1.10
Diagnostic-Code: smtp;550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient ada@example.org not found by SMTP address lookup

--_ndr_
Content-Type: text/rfc822-headers

{ORIGINAL.decode().replace(chr(13), "").split(chr(10) * 2)[0]}

--_ndr_--
""".replace("\n", "\r\n").encode()


def test_gmail_address_not_found_is_hard_and_cites_our_message() -> None:
    report = parse(gmail_dsn("5.1.1", "550-5.1.1 The email account that you tried to reach does not exist."))
    assert (report.kind, report.recipient, report.status) == (Kind.HARD, "ada@example.org", "5.1.1")
    assert report.cited.message_ids == CITED and "bounces@example.com" in report.cited.addresses
    assert report.key == "<5f1e3c2a.gmail.bounce@mx.google.com>"


def test_gmail_mailbox_full_and_a_policy_block() -> None:
    assert (
        parse(gmail_dsn("4.2.2", "452-4.2.2 The recipient's inbox is out of storage space.", "delayed")).kind
        is Kind.SOFT
    )
    blocked = gmail_dsn("5.7.26", "550-5.7.26 This mail has been blocked because the sender is unauthenticated.")
    assert parse(blocked).kind is Kind.IGNORED, "a refusal about our authentication is never the reader's bounce"
    assert parse(gmail_dsn("2.0.0", "250 OK", "delivered")).kind is Kind.IGNORED


def test_office365_recipient_not_found_is_hard() -> None:
    report = parse(office365_ndr())
    assert (report.kind, report.status, report.recipient) == (Kind.HARD, "5.1.10", "ada@example.org")
    assert report.cited.message_ids == CITED


def test_a_dsn_is_a_dsn_even_with_auto_submitted_and_an_auto_reply_is_not_a_bounce() -> None:
    dsn = shapes.postfix_dsn("bounces@example.com", "ada@example.org", ORIGINAL)
    assert b"Auto-Submitted: auto-replied" in dsn and parse(dsn).kind is Kind.HARD
    reply = parse(shapes.out_of_office("bounces@example.com", "ada@example.org", ORIGINAL))
    assert reply.kind is Kind.AUTO_REPLY, "an out-of-office that mentions 5.1.1 is still only an auto-reply"


def test_arf_types() -> None:
    assert parse(shapes.arf_complaint("b@example.com", "ada@example.org", ORIGINAL)).kind is Kind.COMPLAINT
    assert parse(shapes.arf_complaint("b@example.com", "ada@example.org", ORIGINAL, "not-spam")).kind is Kind.IGNORED
    report = parse(shapes.arf_complaint("b@example.com", "ada@example.org", ORIGINAL))
    assert report.recipient == "ada@example.org" and report.cited.message_ids == CITED


def test_text_bounce_and_plain_mail() -> None:
    bounce = parse(shapes.qmail_bounce("bounces@example.com", "ada@example.org", ORIGINAL))
    assert (bounce.kind, bounce.status, bounce.recipient) == (Kind.HARD, "5.1.1", "ada@example.org")
    assert bounce.cited.message_ids == CITED
    assert parse(shapes.not_a_report("bounces@example.com")).kind is Kind.UNMATCHED


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=3000))
def test_any_bytes_are_read_without_an_exception(raw: bytes) -> None:
    report = parse(raw)
    assert report.kind in Kind and report.key


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 4000), st.binary(min_size=1, max_size=40))
def test_a_damaged_report_is_read_without_an_exception(at: int, junk: bytes) -> None:
    dsn = gmail_dsn("5.1.1", "550 5.1.1 no such user")
    at = at % len(dsn)
    report = parse(dsn[:at] + junk + dsn[at + len(junk) :])
    assert report.kind in Kind
