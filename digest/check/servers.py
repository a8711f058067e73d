"""The mail server (reachable, TLS verified, login accepted, then QUIT: nothing is sent)
and the public site where the links point (https, and its /health answers)."""

from __future__ import annotations

import ssl
from urllib.parse import urlsplit

import httpx

from digest.check.run import Failed
from digest.config import VERP_TOKEN, Config, check_public_links, is_loopback
from digest.deliver.transport import open_transport, parse_smtp_url

HEALTH_TIMEOUT = 5.0


def smtp(config: Config) -> str:
    url = config.settings.smtp_url
    if url.startswith("maildir:"):
        raise Failed(f"DIGEST_SMTP_URL is {url}: mail goes to a folder, not to readers")
    settings = parse_smtp_url(url, config.file.delivery.helo)
    with open_transport(url, config.file.delivery.helo):
        pass  # connected, greeted, TLS and login as configured; closing says QUIT
    done = ["connected"]
    if settings.implicit_tls or settings.starttls:
        done.append("TLS certificate verified")
    if settings.username:
        done.append(f"login as {settings.username} accepted")
    return f"{settings.describe()}: {', '.join(done)}; nothing was sent"


def smtp_tls(config: Config) -> str:
    url = config.settings.smtp_url
    if url.startswith("maildir:"):
        raise Failed("no SMTP server configured")
    settings = parse_smtp_url(url)
    if settings.implicit_tls:
        return "smtps: TLS from the first byte"
    if settings.starttls:
        return "STARTTLS, certificate verified"
    if is_loopback(settings.host):
        return f"{settings.host} is on this machine: no TLS needed"
    raise Failed(f"mail to {settings.host} would cross the network unencrypted, login included: "
                 "use smtps://HOST:465 or ?starttls=true")  # fmt: skip


def base_url(config: Config) -> str:
    url = config.settings.base_url
    parts = urlsplit(url)
    if parts.scheme != "https":
        raise Failed(f"DIGEST_BASE_URL {url!r} is not https: one-click unsubscribe (RFC 8058) needs https")
    if is_loopback(parts.hostname or ""):
        raise Failed(f"DIGEST_BASE_URL {url!r} points at this machine: readers cannot reach it")
    check_public_links(config.settings)
    return f"{url}: https, a public host"


def health(config: Config) -> str:
    url = config.settings.base_url + "/health"
    try:
        response = httpx.get(url, timeout=HEALTH_TIMEOUT, verify=ssl.create_default_context(), follow_redirects=False)
    except httpx.TimeoutException:
        raise Failed(f"{url}: no answer within {HEALTH_TIMEOUT:g} s (is `digest serve` running behind it?)") from None
    except httpx.HTTPError as exc:
        raise Failed(f"{url}: {exc or type(exc).__name__} (is `digest serve` running behind it?)") from None
    if response.status_code != 200:
        raise Failed(f"{url}: HTTP {response.status_code} (200 means digest serve and its database answer)")
    return f"{url}: 200 in {response.elapsed.total_seconds() * 1000:.0f} ms"


def bounce_mailbox(config: Config) -> str:
    """The bounce mailbox (``bounces:``), opened as ``digest bounces`` opens it: the Maildir's
    folders, or an IMAP login over verified TLS. None set passes, and says what is missed."""
    from digest.feedback.run import configured_mailbox, has_mailbox

    if not has_mailbox(config):
        return "no bounce mailbox (bounces: in sources.yaml): bounces and complaints that arrive later are not read"
    mailbox = configured_mailbox(config)  # the folders found, the login and the folder taken, or an error
    mailbox.close()
    verp = "a VERP return path" if VERP_TOKEN in (config.file.delivery.return_path or "") else "no VERP return path"
    return f"{mailbox.label} opens; {verp}"
