"""``digest bounces``: read the bounce mailbox."""

from __future__ import annotations

import click

from digest.cli.support import State, err, friendly_errors, main_output, print_json


@click.command("bounces")
@click.option("--maildir", metavar="PATH", help="A Maildir folder (default: bounces.maildir in sources.yaml).")
@click.option(
    "--imap",
    metavar="URL",
    help="imaps://user:pass@host[:port]/FOLDER, or imap://...?starttls=true "
    "(default: DIGEST_BOUNCES_IMAP_URL, then bounces.imap).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the contract's JSON on stdout.")
@click.pass_obj
@friendly_errors
def bounces_command(state: State, maildir: str | None, imap: str | None, as_json: bool) -> None:
    """Read bounces, delays, complaints and auto-replies from the bounce mailbox.

    Set delivery.return_path in sources.yaml so bounces come to this mailbox (the
    VERP form bounces+{token}@example.com ties each one to its message). A
    permanent failure of a mailbox (5.1.1) bounces the reader; a delay or a 4xx
    counts toward delivery.max_soft_failures, once per issue; a complaint (ARF)
    marks the reader complained; an out-of-office reply changes nothing. A report
    must cite a message digest sent (its signed return path or its signed
    Message-ID), so one made up from a reader's address or public id changes
    nobody. Read reports are filed (Maildir: cur/ marked seen; IMAP:
    moved to bounces.processed_folder); what is not understood is kept for you
    (Maildir: cur/ flagged; IMAP: bounces.unmatched_folder). Nothing is deleted,
    and running it again changes nothing.

    \b
    Examples:
      digest bounces --maildir ~/Maildir/.bounces
      DIGEST_BOUNCES_IMAP_URL='imaps://bounces:PASS@imap.example.com/INBOX' digest bounces
    """
    from digest.feedback.run import configured_mailbox, read_bounces

    mailbox = configured_mailbox(state.config, maildir, imap)
    err.print(f"Reading {mailbox.label}")
    tally = read_bounces(state.engine, state.config, mailbox)
    shown = main_output(as_json)
    shown.print(
        f"{tally.processed} report(s) read: {tally.hard} hard bounce(s), {tally.soft} soft, "
        f"{tally.complaints} complaint(s), {tally.auto_replies} auto-reply(ies), "
        f"{tally.ignored} about us or delivered; "
        f"{tally.unmatched} kept for review (unmatched); {tally.changed} reader(s) changed"
        + (f"; {tally.seen_before} read before" if tally.seen_before else "")
    )
    if as_json:
        print_json(tally.to_json())
