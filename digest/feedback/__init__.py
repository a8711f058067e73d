"""What readers' mail systems tell us after a send: bounces that arrive later (DSNs, RFC
3464), complaints (ARF, RFC 5965), auto-replies (RFC 3834), read from a mailbox, and the same
from mail providers' webhooks. A report changes a reader only when it cites a message digest
sent (a VERP return path or our Message-ID); every report is recorded once."""
