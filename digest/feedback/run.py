"""``digest bounces``: read the bounce mailbox once, file every report, change the readers
they call for. Running it twice changes nothing (the reports are filed away, and each is
recorded once by its own id)."""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import Engine

from digest.config import Config
from digest.feedback.mailbox import Mailbox, open_mailbox
from digest.feedback.record import Recorder, Tally
from digest.feedback.reports import Kind, Report, parse

log = logging.getLogger("digest.bounces")
UNREAD = "empty, or too large to read (over 10 MB)"


def configured_mailbox(config: Config, maildir: str | None = None, imap: str | None = None) -> Mailbox:
    """The mailbox the flags name, else sources.yaml's ``bounces:`` (its IMAP URL may come from
    DIGEST_BOUNCES_IMAP_URL instead, keeping the password out of the file)."""
    bounces = config.file.bounces
    folders = (bounces.processed_folder, bounces.unmatched_folder)
    if maildir is not None or imap is not None:  # a flag's path is relative to the working folder
        return open_mailbox(Path(maildir) if maildir is not None else None, imap, *folders)
    url = config.settings.bounces_imap_url or bounces.imap
    return open_mailbox(config.path(bounces.maildir) if bounces.maildir and not url else None, url, *folders)


def has_mailbox(config: Config) -> bool:
    bounces = config.file.bounces
    return bool(bounces.maildir or bounces.imap or config.settings.bounces_imap_url)


def read_bounces(engine: Engine, config: Config, mailbox: Mailbox) -> Tally:
    recorder = Recorder.open(engine, config)
    tally = Tally()
    try:
        for handle, raw in mailbox.messages():
            report = parse(raw) if raw else Report(Kind.UNMATCHED, f"unread:{handle}", detail=UNREAD)
            kind = recorder.record(report, mailbox.source, tally)
            mailbox.file(handle, understood=kind is not Kind.UNMATCHED)
    finally:
        mailbox.close()
    log.info("bounces from %s: %s", mailbox.label, tally.to_json())
    return tally
