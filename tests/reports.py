"""Real-shaped mail for the bounce mailbox: DSNs as Postfix and Exchange write them (RFC 3464),
an ARF complaint as the big mailbox providers send them (RFC 5965), an out-of-office reply
(RFC 3834), an old-style text bounce, and the forgeries a stranger could send. Each takes
the message it is about (its bytes, as digest sent it) and where the report is delivered."""

from __future__ import annotations

import email
import email.policy
import secrets


def headers_of(message: bytes) -> str:
    """The header block of a message, as a DSN returns it."""
    head = message.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
    return head.replace("\r\n", "\n")


def message_id_of(message: bytes) -> str:
    return str(email.message_from_bytes(message, policy=email.policy.compat32)["Message-ID"])


def _id() -> str:
    return f"<{secrets.token_hex(8)}@mx.example.net>"


def postfix_dsn(to: str, recipient: str, original: bytes, *, action: str = "failed", status: str = "5.1.1",
                diagnostic: str = "smtp; 550 5.1.1 <{r}>: Recipient address rejected: User unknown in virtual "
                "mailbox table", whole: bool = True) -> bytes:  # fmt: skip
    """A DSN as Postfix writes it: a notice, the delivery-status part, the returned message
    (whole, or its headers only)."""
    boundary = "8C1A120C8D1.1796414227/mx.example.net"
    returned_type = "message/rfc822" if whole else "text/rfc822-headers"
    returned = headers_of(original) + ("\n\n(body)\n" if whole else "\n")
    subject = "Undelivered Mail Returned to Sender" if action == "failed" else "Delayed Mail (still being retried)"
    return f"""Return-Path: <>
X-Original-To: {to}
Delivered-To: {to}
Date: Fri,  4 Dec 2026 19:57:07 +0000 (UTC)
From: Mail Delivery System <MAILER-DAEMON@mx.example.net>
Subject: {subject}
To: {to}
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
\tboundary="{boundary}"
Message-Id: {_id()}

This is a MIME-encapsulated message.

--{boundary}
Content-Description: Notification
Content-Type: text/plain; charset=us-ascii

This is the mail system at host mx.example.net.

<{recipient}>: host mx.example.org said: 550 5.1.1 user unknown

--{boundary}
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.net
X-Postfix-Queue-ID: 8C1A120C8D1
Arrival-Date: Fri,  4 Dec 2026 19:57:07 +0000 (UTC)

Final-Recipient: rfc822; {recipient}
Original-Recipient: rfc822;{recipient}
Action: {action}
Status: {status}
Diagnostic-Code: {diagnostic.format(r=recipient)}

--{boundary}
Content-Description: Undelivered Message
Content-Type: {returned_type}

{returned}
--{boundary}--
""".replace("\n", "\r\n").encode()


def arf_complaint(to: str, recipient: str, original: bytes, feedback_type: str = "abuse") -> bytes:
    """An ARF report as a mailbox provider's feedback loop sends it: a human part, the
    machine-readable feedback-report, the original message."""
    boundary = "----=_Part_feedback_1"
    return f"""Return-Path: <>
Delivered-To: {to}
From: Yahoo! Mail AntiSpam Feedback <feedback@arf.mail.yahoo.com>
To: {to}
Subject: FW: Week 49: 10 product jobs
Date: Fri, 4 Dec 2026 20:11:00 +0000
Message-ID: {_id()}
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="{boundary}"

--{boundary}
Content-Type: text/plain; charset="us-ascii"

This is an email abuse report for an email message received from IP 192.0.2.10.

--{boundary}
Content-Type: message/feedback-report

Feedback-Type: {feedback_type}
User-Agent: Yahoo!-Mail-Feedback/2.0
Version: 1
Original-Mail-From: <bounces@returns.test>
Original-Rcpt-To: <{recipient}>
Arrival-Date: Fri, 4 Dec 2026 19:57:07 +0000
Reported-Domain: example.com
Source-IP: 192.0.2.10

--{boundary}
Content-Type: message/rfc822
Content-Disposition: inline

{headers_of(original)}

(body)
--{boundary}--
""".replace("\n", "\r\n").encode()


def out_of_office(to: str, sender: str, original: bytes) -> bytes:
    """An Exchange out-of-office reply, sent to the return path (RFC 3834)."""
    return f"""Return-Path: <>
Delivered-To: {to}
From: Ada Reader <{sender}>
To: {to}
Subject: Automatic reply: Week 49: 10 product jobs
Date: Fri, 4 Dec 2026 20:00:00 +0000
Message-ID: {_id()}
In-Reply-To: {message_id_of(original)}
Auto-Submitted: auto-replied
X-Auto-Response-Suppress: All
Content-Type: text/plain; charset="us-ascii"

I am out of the office until Monday, with no access to email. Status 5.1.1 means nothing here.
""".replace("\n", "\r\n").encode()


def qmail_bounce(to: str, recipient: str, original: bytes) -> bytes:
    """An old-style text bounce (qmail): no report part; the original follows the text."""
    return f"""Return-Path: <>
Delivered-To: {to}
From: MAILER-DAEMON@mail.example.org
To: {to}
Subject: failure notice
Date: Fri, 4 Dec 2026 20:01:00 +0000
Message-ID: {_id()}

Hi. This is the qmail-send program at mail.example.org.
I'm afraid I wasn't able to deliver your message to the following addresses.
This is a permanent error; I've given up. Sorry it didn't work out.

<{recipient}>:
Sorry, no mailbox here by that name. (#5.1.1)

--- Below this line is a copy of the message.

{headers_of(original)}

(body)
""".replace("\n", "\r\n").encode()


def stranger_headers(recipient: str) -> bytes:
    """The headers of a message digest never sent."""
    return (f"From: Someone <news@elsewhere.example>\r\nTo: {recipient}\r\nSubject: Hello\r\n"
            f"Message-ID: <{secrets.token_hex(12)}@elsewhere.example>\r\n\r\nbody\r\n").encode()  # fmt: skip


def not_a_report(to: str) -> bytes:
    return (f"From: Bob <bob@example.org>\r\nTo: {to}\r\nSubject: Quick question about the jobs\r\n"
            f"Message-ID: {_id()}\r\n\r\nHi, do you also list contract roles?\r\n").encode()  # fmt: skip
