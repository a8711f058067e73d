"""Double opt-in: a short plain message with a signed link to ``digest serve``'s /c/ page."""

from __future__ import annotations

from email.utils import format_datetime, formataddr, make_msgid

from sqlalchemy import Engine

from digest.config import Config, check_public_links
from digest.deliver.returnpath import ReturnPath
from digest.deliver.transport import Prepared, open_transport
from digest.models import Subscriber
from digest.render.mime import clean, encode_words, quoted_printable, sender_parts
from digest.timeutil import utcnow
from digest.tokens import signer_for


def confirmation_message(config: Config, subscriber: Subscriber, link: str) -> bytes:
    name, sender, _ = sender_parts(config.newsletter.sender)
    body = (
        f"Hi,\n\nPlease confirm that you want {config.newsletter.name}, the weekly digest of top product "
        f"people & jobs (one email a week, no spam):\n\n{link}\n\nIf you did not ask for it, ignore this "
        f"email and you will hear nothing more.\n"
    )
    head = [
        ("From", formataddr((clean(name), sender), charset="utf-8")),
        ("To", formataddr(("", clean(subscriber.email)), charset="utf-8")),
        ("Subject", encode_words(f"Confirm your subscription to {config.newsletter.name}", "Subject")),
        ("Date", format_datetime(utcnow())),
        ("Message-ID", make_msgid(domain=sender.rpartition("@")[2] or None)),
        ("MIME-Version", "1.0"),
        ("Content-Type", 'text/plain; charset="utf-8"'),
        ("Content-Transfer-Encoding", "quoted-printable"),
    ]
    return "".join(f"{k}: {v}\r\n" for k, v in head).encode() + b"\r\n" + quoted_printable(body)


def send_confirmation(engine: Engine, config: Config, subscriber: Subscriber, asked: int = 0) -> None:
    """Mail the reader a /c/ link; ``asked``: the time of a request to come back (the link
    confirms that request only), or 0 for a double opt-in."""
    check_public_links(config.settings)
    signer = signer_for(engine, config.settings.secret_keys)
    token = signer.sign("confirm", subscriber.public_id, asked)
    data = confirmation_message(config, subscriber, f"{config.settings.base_url}/c/{token}")
    with open_transport(config.settings.smtp_url, config.file.delivery.helo) as transport:
        transport.send(ReturnPath.of(config, signer).plain, subscriber.email, Prepared(data))
