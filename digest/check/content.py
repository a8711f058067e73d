"""What is in digest's own hands: the From domain, the signing key, the list, the email."""

from __future__ import annotations

from sqlalchemy import Engine

from digest.check.records import sender_domain
from digest.check.run import Failed
from digest.config import MIN_KEY_BYTES, Config
from digest.errors import InputError

GMAIL_CLIPS = 102 * 1024  # Gmail shows "[Message clipped]" past this much HTML
MAX_SIZE = 100 * 1000
PLACEHOLDER_DOMAINS = ("example.com", "example.org", "example.net", "localhost", "localdomain")
PLACEHOLDER_SUFFIXES = (".example", ".test", ".invalid", ".localhost", ".local", ".example.com", ".example.org",
                        ".example.net")  # fmt: skip


def from_domain(config: Config) -> str:
    domain = sender_domain(config)
    if domain in PLACEHOLDER_DOMAINS or domain.endswith(PLACEHOLDER_SUFFIXES) or "." not in domain:
        raise Failed(f"newsletter.from is at {domain}, a placeholder: mail from it is refused or junked "
                     "(use your own domain)")  # fmt: skip
    return f"newsletter.from is at {domain}"


def secret_key(config: Config) -> str:
    keys = config.settings.secret_keys
    if not keys:
        raise Failed("DIGEST_SECRET_KEY is not set: links are signed with a key kept in the database, and stop "
                     "working if it moves or is recreated (set one: python -c 'import secrets; "
                     "print(secrets.token_urlsafe(32))')")  # fmt: skip
    key = keys[0]
    if len(key.encode()) < MIN_KEY_BYTES:
        raise Failed(f"DIGEST_SECRET_KEY's first key has {len(key.encode())} bytes; it needs {MIN_KEY_BYTES} or more")
    if len(set(key)) < 12 or key.lower().strip("-_ ") in ("changeme", "secret", "change-me"):
        raise Failed("DIGEST_SECRET_KEY looks made by hand (few different characters): use a random one")
    return f"{len(key.encode())} bytes, random-looking" + (f"; {len(keys) - 1} older key(s) verify only" if keys[1:]
                                                            else "")  # fmt: skip


def readers(engine: Engine | None) -> str:
    from digest.subscribers import count

    if engine is None:
        raise Failed("there is no database yet: nobody to send to (digest subscribers import FILE)")
    active = count(engine, "active")
    if not active:
        raise Failed("the list has no active readers (digest subscribers add or import)")
    return f"{active} active reader(s)"


def size(engine: Engine | None, config: Config) -> str:
    """This week's issue (or the newest built) as a reader with no preferences gets it: the
    longest version. Rendered, not stored."""
    from digest.build.issue import existing_issue, find_issue
    from digest.render.compose import Composer, sample_reader
    from digest.timeutil import utcnow
    from digest.weeks import week_of

    if engine is None:
        raise Failed("no issue built yet (digest build, then check again)")
    this_week = week_of(utcnow(), config.newsletter.tz)
    issue = existing_issue(engine, this_week)
    if issue is None:
        try:
            issue = find_issue(engine, None)
        except InputError:
            raise Failed("no issue built yet (digest build, then check again)") from None
    if issue.status == "skipped":
        raise Failed(f"issue {issue.week} was skipped ({issue.note}): there is no email to measure")
    composer = Composer.open(engine, config, issue, store=False)
    reader = sample_reader()
    html = composer.email_for(reader).html.encode("utf-8")
    whole = composer.message_for(reader, utcnow())
    which = f"issue {issue.week}" + ("" if issue.week == this_week else " (the newest built)")
    if len(html) >= MAX_SIZE:
        raise Failed(f"{which}: the HTML is {len(html) / 1000:.0f} KB; Gmail clips it past {GMAIL_CLIPS // 1024} KB "
                     "(fewer jobs_per_email or people_per_email)")  # fmt: skip
    return f"{which}: HTML {len(html) / 1000:.0f} KB, the whole message {len(whole) / 1000:.0f} KB (under 100 KB)"
