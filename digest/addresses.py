"""Email addresses: the one way an address is normalised, and the one way a reader is found by it."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email
from sqlmodel import Session, select

from digest.errors import SubscriberError
from digest.models import Subscriber

BAD_CHARS = ("\r", "\n", "\0")


def normalise_email(raw: str) -> str:
    """Validated and normalised (an internationalised domain in its ASCII form, all lower
    case); SubscriberError says why an address is refused."""
    if any(c in raw for c in BAD_CHARS):
        raise SubscriberError("address contains a line break or NUL")
    text = raw.strip()
    if not text:
        raise SubscriberError("address is empty")
    try:
        valid = validate_email(text, check_deliverability=False)
    except EmailNotValidError as exc:
        raise SubscriberError(f"invalid address {text!r}: {exc}") from None
    domain = valid.ascii_domain or valid.domain
    return f"{valid.local_part}@{domain}".lower()


def find_reader(session: Session, address: str) -> Subscriber | None:
    """The reader with this address, as ``normalise_email`` gives it (so however the person
    wrote it: case, an IDN domain)."""
    return session.exec(select(Subscriber).where(Subscriber.email == address)).first()
