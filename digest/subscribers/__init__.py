"""Subscribers: the public library that the CLI and operators' scripts call.

    from digest.subscribers import add, import_file, remove, forget, update_preferences, iter_subscribers

Addresses are validated (syntax only, no DNS) and normalised: the domain in IDNA and the
whole address in lower case, so two addresses that differ only in case are one person.
An unsubscribed, bounced or complained address is never re-activated by an import unless
the operator says they have fresh consent; a forgotten address stays suppressed as a
salted hash."""

from digest.addresses import normalise_email
from digest.errors import SubscriberError
from digest.status import STATUSES, SUPPRESSED
from digest.subscribers.files import ImportReport, export_rows, import_file, import_rows, read_rows, seed_if_empty
from digest.subscribers.store import (
    History,
    add,
    as_record,
    count,
    email_hash,
    forget,
    get,
    history,
    is_forgotten,
    iter_subscribers,
    remove,
    update_preferences,
)
from digest.subscribers.validation import FIELDS, clean_record, parse_prefs

__all__ = [
    "FIELDS", "STATUSES", "SUPPRESSED", "History", "ImportReport", "SubscriberError", "add", "as_record",
    "clean_record", "count", "email_hash", "export_rows", "forget", "get", "history", "import_file", "import_rows",
    "is_forgotten", "iter_subscribers", "normalise_email", "parse_prefs", "read_rows", "remove",
    "seed_if_empty", "update_preferences",
]  # fmt: skip
