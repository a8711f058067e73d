"""Configuration: sources.yaml and the DIGEST_* variables, validated once at the edge.

``load_config`` returns a ``Config``; everything below the CLI takes it as an
argument and never reads the environment or the file again.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from email.utils import parseaddr
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from digest.errors import ConfigError

FORMATS = (
    "feed",
    "jsonfeed",
    "greenhouse",
    "lever",
    "ashby",
    "remotive",
    "remoteok",
    "json",
)
PROFILE_FORMATS = ("jsonl", "json", "csv")
DEFAULT_DATABASE_URL = "sqlite:///digest.db"
DEFAULT_SMTP_URL = "maildir:./outbox"
MIN_KEY_BYTES = 32
HOOK_VARIABLES = ("DIGEST_SES_TOPIC_ARNS", "DIGEST_SNS_CERT_HOSTS", "DIGEST_SNS_CAFILE", "DIGEST_POSTMARK_WEBHOOK_AUTH",
                  "DIGEST_SENDGRID_WEBHOOK_KEY", "DIGEST_MAILGUN_SIGNING_KEY")  # fmt: skip
_WARNED: set[str] = set()  # short older keys already warned of in this process
log = logging.getLogger("digest.config")


HEX_COLOUR = re.compile(r"#[0-9a-fA-F]{6}")
MIN_CONTRAST = 4.5  # WCAG AA for body text: white on the accent's buttons, the accent on white


def contrast(a: str, b: str) -> float:
    """WCAG contrast ratio of two #rrggbb colours (1 to 21)."""

    def luminance(colour: str) -> float:
        r, g, b = ((c / 255) for c in (int(colour[i : i + 2], 16) for i in (1, 3, 5)))
        r, g, b = ((c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4) for c in (r, g, b))
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    light, dark = sorted((luminance(a), luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


# The families of DESIGN.md's domain notes (the role model's PRODUCT_FAMILIES; a test keeps them equal).
PRODUCT_FAMILIES = (
    "product manager", "technical product manager", "product designer", "product operations", "product leadership",
)  # fmt: skip


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Newsletter(_Strict):
    name: str = "Product People Weekly"
    sender: str = Field("Product People Weekly <digest@example.com>", alias="from")
    schedule: str = "0 9 * * mon"
    timezone: str = "UTC"
    jobs_per_email: int = Field(10, ge=0, le=100)
    people_per_email: int = Field(6, ge=0, le=100)
    min_items: int = Field(1, ge=0, description="fewer new picks than this: the week is skipped")
    scope: list[str] = Field(
        default_factory=lambda: list(PRODUCT_FAMILIES),
        description="the role families the newsletter is about: readers without roles draw from them, related "
        "picks stay inside them, and a job outside them reaches only a reader who asked for its role",
    )
    min_picks: int = Field(3, ge=0, le=100, description="a reader with fewer picks of their own is filled or skipped")
    below_min_picks: Literal["fill", "skip"] = Field(
        "fill", description="fill: top the email up with the scope's best picks, labelled; skip: no email that week"
    )
    postal_address: str = ""
    archive: bool = Field(True, description="digest serve publishes the sent issues at /archive/ (with feeds)")
    reply_to: str | None = None
    accent_color: str = Field("#5b21b6", description="#rrggbb: the brand line and the call-to-action buttons")
    logo_url: str | None = Field(None, description="https:// image shown above the title instead of the name")
    logo_width: int = Field(160, ge=16, le=560, description="the logo's width in pixels (its height follows)")
    misfire_grace_hours: float = Field(6, ge=0, description="a run missed while down runs on start within this")
    retry_minutes: float = Field(
        1, gt=0, description="a failed weekly run is retried after this, then after twice as long each time "
        "(at most 30 minutes between tries), while misfire_grace_hours after its scheduled time allows",
    )  # fmt: skip

    @field_validator("sender")
    @classmethod
    def _sender(cls, value: str) -> str:
        _, address = parseaddr(value)
        if "@" not in address or any(c in value for c in "\r\n\0"):
            raise ValueError("not an email address such as 'Name <digest@example.com>'")
        return value

    @field_validator("accent_color")
    @classmethod
    def _accent(cls, value: str) -> str:
        if not HEX_COLOUR.fullmatch(value):
            raise ValueError("not a colour such as '#5b21b6' (# and six hex digits)")
        ratio = contrast(value, "#ffffff")
        if ratio < MIN_CONTRAST:
            raise ValueError(
                f"too light: white button text on it, and it on a white page, would have a contrast of "
                f"{ratio:.1f}:1; {MIN_CONTRAST}:1 is the least that reads well (try a darker shade)"
            )
        return value.lower()

    @field_validator("logo_url")
    @classmethod
    def _logo(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme != "https" or not parts.netloc or any(c in value for c in "\r\n\t \"'<>"):
            raise ValueError("not an https:// image URL (mail clients block images over plain http)")
        return value

    @field_validator("scope")
    @classmethod
    def _scope(cls, value: list[str]) -> list[str]:
        """Text only here; the build reads each as a role (a topic is refused there, in one line)."""
        terms = [" ".join(str(v).split()) for v in value]
        if not 0 < len(terms) <= 50 or not all(0 < len(t) <= 80 for t in terms):
            raise ValueError("expected a list of 1 to 50 role families, such as [product manager, product designer]")
        if any(c in t for t in terms for c in "\r\n\0;"):
            raise ValueError("one role per entry, without line breaks or ';'")
        return terms

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        """Checked as ``digest schedule`` will read it, so no command accepts a line the scheduler refuses."""
        if len(value.split()) != 5:
            raise ValueError("not a 5-field cron line (minute hour day month weekday)")
        from digest.cron import cron_trigger

        try:
            cron_trigger(value, "UTC")
        except ConfigError as exc:
            raise ValueError(str(exc).removeprefix(f"{exc.where}: ")) from None
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone {value!r} (use an IANA name such as Europe/London)") from None
        return value

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class JsonMapping(_Strict):
    """Where a generic JSON job board keeps each field (dotted paths into one item)."""

    @model_validator(mode="after")
    def _has_link(self) -> JsonMapping:
        if not self.url and not self.url_template:
            raise ValueError("give url (a path) or url_template")
        return self

    items: str = ""
    id: str | None = None
    title: str
    company: str | None = None
    url: str | None = None
    url_template: str | None = Field(None, description="e.g. https://news.ycombinator.com/item?id={objectID}")
    location: str | None = None
    remote: str | None = None
    description: str | None = None
    published: str | None = None
    salary_min: str | None = None
    salary_max: str | None = None
    salary_currency: str | None = None
    tags: str | None = None


class SourceSettings(_Strict):
    name: str
    kind: Literal["jobs", "profiles"] = "jobs"
    url: str
    format: str | None = None
    weight: float = Field(1.0, ge=0, le=10)
    tags: list[str] = []
    mapping: JsonMapping | None = None
    title_pattern: Literal["auto", "company: title", "title - company", "title"] = "auto"
    remote: bool | None = Field(None, description="every posting of this source is remote")
    company: str | None = Field(None, description="the employer, for boards whose API omits it")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", value):
            raise ValueError("use 1-64 letters, digits, '.', '_' or '-'")
        return value

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not is_url_or_path(value):
            raise ValueError("not a URL or file path")
        return value

    @model_validator(mode="after")
    def _format_fits_kind(self) -> SourceSettings:
        allowed = FORMATS if self.kind == "jobs" else PROFILE_FORMATS
        if self.format is not None and self.format not in allowed:
            raise ValueError(f"format: {self.format!r} is not one of {', '.join(allowed)} (kind {self.kind})")
        if self.format == "json" and self.kind == "jobs" and self.mapping is None:
            raise ValueError("format json needs a mapping: (title, url and the path to the items)")
        return self

    @property
    def is_http(self) -> bool:
        return self.url.startswith(("http://", "https://"))


class Ranking(_Strict):
    freshness: float = 1.0
    match: float = 3.0
    completeness: float = 1.0
    source_weight: float = 1.0
    max_per_company: int = Field(2, ge=1)
    half_life_days: float = Field(3.5, gt=0)


class Ingest(_Strict):
    timeout: float = Field(20.0, gt=0, description="seconds for a whole fetch")
    connect_timeout: float = Field(5.0, gt=0)
    max_bytes: int = Field(10_000_000, gt=0)
    max_redirects: int = Field(5, ge=0, le=20)
    concurrency: int = Field(8, ge=1, le=64)


class Dkim(_Strict):
    selector: str
    domain: str
    key_file: str = Field(description="PEM private key; relative to sources.yaml")


class DeliverySettings(_Strict):
    rate: float = Field(0, ge=0, description="messages per second across all workers; 0 = no limit")
    workers: int = Field(1, ge=1, le=64, description="parallel SMTP connections")
    processes: int | None = Field(
        None, ge=1, le=32,
        description="sender processes sharing the workers (default: one per core, at most one per worker)",
    )  # fmt: skip
    retry_backoff: list[float] = Field([5, 30, 120], description="seconds before each retry of a 4xx")
    max_soft_failures: int = Field(3, ge=1, description="left deferred in this many issues: suppressed as bounced")
    ingest_max_age_hours: float = Field(12, ge=0, description="send ingests first when the last ingest is older")
    lease_seconds: float = Field(120, gt=0, description="a sender that stops renewing loses its claims after this")
    batch: int = Field(100, ge=1, le=10_000, description="deliveries claimed at a time")
    commit_every: int = Field(
        8, ge=1, le=1000, description="messages marked sending per commit; a crash leaves at most this many unknown"
    )
    refusals_in_a_row: int = Field(
        10, ge=1, description="refusals about us (login, policy, size...) of one kind in a row: the run stops"
    )
    helo: str | None = Field(None, description="the EHLO name (default: this host's fully qualified name)")
    return_path: str | None = Field(
        None,
        description="the envelope sender, where bounces go: bounces@example.com, or VERP bounces+{token}@example.com "
        "(default: the From address)",
    )
    dkim: Dkim | None = None
    seed_readers: str | None = Field(None, description="CSV imported when the list is empty (demos)")

    @model_validator(mode="before")
    @classmethod
    def _removed_keys(cls, data: Any) -> Any:
        if isinstance(data, dict) and "unsubscribe_mailto" in data:
            raise ValueError(
                "unsubscribe_mailto is no longer read (it never reached the message: the List-Unsubscribe "
                "header is the one-click https link); remove it"
            )
        return data

    @field_validator("return_path")
    @classmethod
    def _return_path(cls, value: str | None) -> str | None:
        if value is None:
            return None
        local, at, domain = value.rpartition("@")
        plain = local.replace(VERP_TOKEN, "")
        if not at or not _LOCAL_PART.fullmatch(plain) or not _HOSTNAME.fullmatch(domain) or "{" in plain:
            raise ValueError("not an address such as bounces@example.com or bounces+{token}@example.com")
        if VERP_TOKEN in local and (local.count(VERP_TOKEN) > 1 or len(local) - len(VERP_TOKEN) + VERP_LENGTH > 64):
            raise ValueError(f"{{token}} may appear once, with at most {64 - VERP_LENGTH} other characters before @")
        return value

    @field_validator("helo")
    @classmethod
    def _helo(cls, value: str | None) -> str | None:
        if value is not None and not _HOSTNAME.fullmatch(value) and not _ADDRESS_LITERAL.fullmatch(value):
            raise ValueError("not a host name such as mail.example.com (or an address literal such as [192.0.2.1])")
        return value


_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOSTNAME = re.compile(rf"(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*")
_LOCAL_PART = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
VERP_TOKEN = "{token}"  # where a VERP return path names the message (digest.deliver.returnpath)
VERP_LENGTH = 48  # characters of that token
_ADDRESS_LITERAL = re.compile(r"\[(?:\d{1,3}(?:\.\d{1,3}){3}|IPv6:[0-9A-Fa-f:.]+)\]")


class Bounces(_Strict):
    """Where bounces, complaints and auto-replies arrive (``digest bounces``)."""

    maildir: str | None = Field(None, description="a Maildir folder; relative to sources.yaml")
    imap: str | None = Field(None, description="imaps://user:pass@host[:port]/FOLDER (or DIGEST_BOUNCES_IMAP_URL)")
    after_send: bool = Field(False, description="the scheduler reads the mailbox after each send")
    processed_folder: str = Field("digest-processed", min_length=1, max_length=100, description="IMAP: reports read")
    unmatched_folder: str = Field("digest-unmatched", min_length=1, max_length=100, description="IMAP: for review")

    @model_validator(mode="after")
    def _one_mailbox(self) -> Bounces:
        if self.maildir and self.imap:
            raise ValueError("give maildir: or imap:, not both")
        if self.imap is not None and not self.imap.startswith(("imap://", "imaps://")):
            raise ValueError("imap: is imaps://user:pass@host[:port]/FOLDER (or imap://...?starttls=true)")
        return self


class SourcesFile(_Strict):
    newsletter: Newsletter = Newsletter()  # type: ignore[call-arg]
    sources: list[SourceSettings] = []
    ranking: Ranking = Ranking()
    ingest: Ingest = Ingest()
    delivery: DeliverySettings = DeliverySettings()
    bounces: Bounces = Bounces()

    @field_validator("sources")
    @classmethod
    def _unique_names(cls, sources: list[SourceSettings]) -> list[SourceSettings]:
        seen: set[str] = set()
        for source in sources:
            if source.name in seen:
                raise ValueError(f"two sources are named {source.name!r}")
            seen.add(source.name)
        return sources


def check_keys(keys: Sequence[str], warn: bool = True) -> None:
    """The first key signs: it must be long enough. Older keys only verify links already
    mailed, so a short one is kept, with a warning."""
    if keys and len(keys[0].encode()) < MIN_KEY_BYTES:
        raise ConfigError(
            f"the first key signs links and must be at least {MIN_KEY_BYTES} bytes (it has "
            f"{len(keys[0].encode())}); make one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'",
            where="DIGEST_SECRET_KEY",
        )
    for number, key in enumerate(keys[1:], start=2):
        if warn and len(key.encode()) < MIN_KEY_BYTES and key not in _WARNED:
            _WARNED.add(key)
            log.warning("DIGEST_SECRET_KEY: key %d is shorter than %d bytes; it only verifies links already "
                        "mailed: drop it once they no longer matter", number, MIN_KEY_BYTES)  # fmt: skip


@dataclass(frozen=True)
class Settings:
    """The DIGEST_* environment variables."""

    database_url: str = DEFAULT_DATABASE_URL
    sources_path: Path = Path("sources.yaml")
    smtp_url: str = DEFAULT_SMTP_URL
    base_url: str = "http://localhost:8000"
    secret_keys: tuple[str, ...] = ()
    bounces_imap_url: str | None = field(default=None, repr=False)  # DIGEST_BOUNCES_IMAP_URL: holds a password
    hook_env: Mapping[str, str] = field(default_factory=dict, repr=False)  # the webhooks' secrets (feedback.hooks)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        base_url = env.get("DIGEST_BASE_URL", cls.base_url).rstrip("/")
        if not base_url.startswith(("http://", "https://")) or not urlsplit(base_url).netloc:
            raise ConfigError("not an http(s) URL", where="DIGEST_BASE_URL")
        keys = tuple(k.strip() for k in env.get("DIGEST_SECRET_KEY", "").split(",") if k.strip())
        check_keys(keys, warn=False)  # the signer warns of short older keys, once
        return cls(
            database_url=env.get("DIGEST_DATABASE_URL") or DEFAULT_DATABASE_URL,
            sources_path=Path(env.get("DIGEST_SOURCES") or "sources.yaml"),
            smtp_url=env.get("DIGEST_SMTP_URL") or DEFAULT_SMTP_URL,
            base_url=base_url,
            secret_keys=keys,
            bounces_imap_url=env.get("DIGEST_BOUNCES_IMAP_URL") or None,
            hook_env={k: v for k, v in env.items() if k in HOOK_VARIABLES},
        )


@dataclass(frozen=True)
class Config:
    settings: Settings
    file: SourcesFile
    base_dir: Path = field(default_factory=Path.cwd)

    @property
    def newsletter(self) -> Newsletter:
        return self.file.newsletter

    @property
    def sources(self) -> list[SourceSettings]:
        return self.file.sources

    def path(self, value: str) -> Path:
        """A path from sources.yaml, made absolute against the file's folder."""
        path = Path(value).expanduser()
        return path if path.is_absolute() else self.base_dir / path

    def resolve(self, source: SourceSettings) -> str:
        """The source's URL, or its file path made absolute against sources.yaml's folder."""
        if source.is_http:
            return source.url
        path = Path(source.url.removeprefix("file://")).expanduser()
        return str(path if path.is_absolute() else self.base_dir / path)

    def template_dirs(self, kind: str = "email") -> list[Path]:
        """Folders searched for templates of ``kind`` (``email``, or ``pages`` for digest serve):
        the operator's first (templates/KIND/ next to sources.yaml), then the packaged ones."""
        local = self.base_dir / "templates" / kind
        packaged = Path(__file__).parent / "templates" / kind  # in an installed wheel
        checkout = Path(__file__).parent.parent / "templates" / kind  # running from a clone
        return list(dict.fromkeys(d for d in (local, packaged, checkout) if d.is_dir()))


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or localhost: a test or a relay on this machine."""
    import ipaddress
    import socket

    host = host.strip("[]").lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        try:  # the short IPv4 forms a URL may carry: 127.1, 2130706433
            address = ipaddress.ip_address(socket.inet_aton(host))
        except OSError:
            return False
    mapped = getattr(address, "ipv4_mapped", None)
    return address.is_loopback or (mapped is not None and mapped.is_loopback)


def check_public_links(settings: Settings) -> None:
    """A send to a mail server that is not on loopback mails real readers: their links must
    point at an https DIGEST_BASE_URL that is not loopback (RFC 8058 wants https, and a link
    to localhost helps nobody). Maildir and loopback SMTP (tests, local relays) may use any."""
    smtp = urlsplit(settings.smtp_url)
    if smtp.scheme not in ("smtp", "smtps") or is_loopback(smtp.hostname or "localhost"):
        return
    base = urlsplit(settings.base_url)
    if base.scheme != "https" or is_loopback(base.hostname or ""):
        raise ConfigError(
            f"{settings.base_url!r} would go in every email to real readers: a send to {smtp.hostname} needs "
            "the public https address where `digest serve` answers (e.g. https://digest.example.com)",
            where="DIGEST_BASE_URL",
        )


def is_url_or_path(value: str) -> bool:
    if not value or any(c in value for c in "\r\n\0"):
        return False
    parts = urlsplit(value)
    if parts.scheme in ("http", "https"):
        return bool(parts.netloc) and " " not in value
    if parts.scheme == "file":
        return bool(parts.path)
    # a Windows drive letter parses as a one-letter scheme; anything else with a scheme is not a path
    return not parts.scheme or len(parts.scheme) == 1


def load_config(env: Mapping[str, str] | None = None, sources_path: Path | None = None) -> Config:
    settings = Settings.from_env(os.environ if env is None else env)
    path = sources_path or settings.sources_path
    settings = Settings(**{**settings.__dict__, "sources_path": path})
    return Config(settings=settings, file=load_sources(path), base_dir=path.resolve().parent)


def load_sources(path: Path) -> SourcesFile:
    label = path.name
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            "no such file (set DIGEST_SOURCES or run from the folder that holds it)",
            where=str(path),
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read: {exc}", where=str(path)) from None
    return parse_sources(text, label)


def parse_sources(text: str, label: str = "sources.yaml") -> SourcesFile:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{label}: line {mark.line + 1}" if mark else label
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise ConfigError(f"not valid YAML: {problem}", where=where) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError("expected a mapping with newsletter:, sources: and ranking:", where=label)
    try:
        return SourcesFile.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_first_problem(exc), where=f"{label}: {_location(exc)}") from None


def _location(exc: ValidationError) -> str:
    loc = exc.errors()[0]["loc"]
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif str(part).startswith(("function-", "literal[")):
            continue
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def _first_problem(exc: ValidationError) -> str:
    error: dict[str, Any] = dict(exc.errors()[0])
    kind, message = error["type"], str(error["msg"])
    if kind == "extra_forbidden":
        return "unknown key (check its spelling)"
    if kind == "missing":
        return "required"
    return message.removeprefix("Value error, ")
