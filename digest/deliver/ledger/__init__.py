"""The delivery ledger: one row per (issue, subscriber), and the only code that reads or
writes those rows.

    queued ──claim──► (claimed) ──begin──► sending ──outcome──► sent | failed | deferred | unknown
      ▲                   │                   │
      │                   └──reader gone──► skipped
      └── deferred (retry due) ◄──────────────┘     sending ──sender died──► unknown

Senders claim batches of rows (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite's single
writer serialises the claim). Each sender connection writes through its ``Outbox``: one
transaction commits the last window's outcomes and marks the next window ``sending``
before SMTP DATA. A row left in ``sending`` by a sender that died becomes ``unknown``:
reported, never resent unless the operator asks."""

from digest.deliver.ledger.outbox import Outbox, Outcome
from digest.deliver.ledger.rows import (
    STATUSES,
    Attempt,
    Begun,
    Claimed,
    DeliveryStatus,
    Mailed,
    Recipient,
    claim,
    claimed_by_others,
    counts,
    counts_by_issue,
    discard_issue,
    enqueue,
    forget_reader,
    history_of,
    last_went_out,
    load,
    mailed,
    next_due,
    note_soft_failure,
    pausing,
    pending,
    queued_unclaimed,
    recover,
    refresh_statistics,
    release,
    requeue_refused,
    resend_unknown,
    sent_issues,
    soft_limit_reached,
    still_deferred,
    take_over,
    unfrozen,
    unsent_readers,
    went_out,
    worker_id,
    writing,
)

__all__ = [
    "STATUSES", "Attempt", "Begun", "Claimed", "DeliveryStatus", "Mailed", "Outbox", "Outcome", "Recipient", "claim",
    "claimed_by_others", "counts", "counts_by_issue", "discard_issue", "enqueue", "forget_reader", "history_of",
    "last_went_out", "load", "mailed", "next_due", "note_soft_failure", "pausing", "pending", "queued_unclaimed",
    "recover", "refresh_statistics", "release", "requeue_refused", "resend_unknown", "sent_issues",
    "soft_limit_reached", "still_deferred", "take_over", "unfrozen", "unsent_readers", "went_out", "worker_id",
    "writing",
]  # fmt: skip
