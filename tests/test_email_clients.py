"""The email against what real clients can do, and what a spam filter thinks of it.

caniemail's support data (its npm package, installed here with `npm ci` from
tests/caniemail/package-lock.json) lints the rendered HTML for Gmail, Apple Mail, Outlook
and Yahoo: every feature a client does not support at all must be one of ACCEPTED below,
each with why it degrades gracefully. SpamAssassin's local rules (`spamassassin -L -t`,
Debian's package) must score the whole message 0.0."""

from __future__ import annotations

import fnmatch
import json
import re
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from digest.build.issue import build_issue, find_issue
from digest.config import Config, load_config
from digest.models import Subscriber
from digest.render.compose import Composer, sample_reader
from tests.conftest import ROOT
from tests.helpers import add_reader, ingest_samples, require_program

MONDAY = datetime(2026, 11, 23, 9, tzinfo=UTC)
LINT = ROOT / "tests" / "caniemail"
ARTIFACTS = ROOT / "test-artifacts"
CLIENTS = ["gmail.*", "apple-mail.*", "outlook.*", "yahoo.*"]

# Features some of these clients do not support at all, and why the email still reads there.
# (feature, client glob) -> reason. Anything else caniemail calls unsupported fails the test.
ACCEPTED = {
    ("@media", "gmail.mobile-webmail"): "phone and dark rules are an enhancement: the inline styles are the design",
    ("@media", "outlook.windows*"): "Outlook for Windows gets the desktop layout, held at 600 px by the [if mso] table",
    ("<style> element", "gmail.mobile-webmail"): "it holds only the @media rules; every style is also inline",
    ("<body> element", "*"): "the body's styles are repeated on the wrapper table, which every client keeps",
    ("color-scheme meta tag", "*"): "a hint for clients that honour it; colours that invert evenly do the rest",
    ("border-radius", "outlook.windows*"): "square corners on the email's card and the remote badge",
    ("display:none", "gmail.mobile-webmail"): "the preheader is also zero-size, max-height 0 and overflow hidden",
    ("opacity", "*"): "one of the preheader's several ways to stay hidden",
    ("max-height property", "outlook.windows*"): "Outlook hides the preheader with mso-hide:all",
    ("overflow", "outlook.windows*"): "Outlook hides the preheader with mso-hide:all",
    ("role attribute", "outlook.windows-mail"): "role=presentation is for screen readers; the tables lay out the same",
}


def accepted(feature: str, client: str) -> bool:
    return any(f == feature and fnmatch.fnmatch(client, glob) for f, glob in ACCEPTED)


@pytest.fixture(scope="module")
def linter() -> Path:
    """tests/caniemail with its node_modules, installed once from the lock file."""
    require_program("node", "apt-get install nodejs npm")
    npm = require_program("npm", "apt-get install npm")
    if not (LINT / "node_modules" / "caniemail").is_dir():
        done = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=LINT, capture_output=True, text=True)
        assert done.returncode == 0, f"npm ci in {LINT} failed:\n{done.stderr[-2000:]}"
    return LINT


def lint(linter: Path, html_file: Path) -> list[dict[str, str]]:
    done = subprocess.run(
        ["node", "lint.mjs", str(html_file), *CLIENTS], cwd=linter, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return list(json.loads(done.stdout))


@pytest.fixture
def branded(engine: Engine, tmp_path: Path, sample_config: Config) -> Iterator[Config]:
    """The samples, with a logo and an accent colour in newsletter: (the brand slot)."""
    path = sample_config.settings.sources_path
    text = path.read_text(encoding="utf-8").replace(
        "newsletter:\n", "newsletter:\n  logo_url: https://cdn.example.com/logo.png\n  accent_color: '#0F766E'\n", 1
    )
    path.write_text(text, encoding="utf-8")
    yield load_config({"DIGEST_BASE_URL": "https://digest.example.com"}, path)


def rendered(engine: Engine, config: Config) -> dict[str, bytes]:
    """Whole messages for a reader with preferences, one who wants people only, one whose thin
    email is filled with the week's best, and anyone."""
    ingest_samples(engine, config, now=MONDAY - timedelta(hours=1))
    add_reader(engine, "ada@example.com", "Ada Lovelace", roles=["technical product manager", "payments"], remote=True)
    add_reader(engine, "hiring@example.com", "Hiring Team at Ledgerly", roles=["technical product manager"],
               audience="people")  # fmt: skip
    add_reader(engine, "thin@example.com", "Uma", roles=["ux researcher"], audience="jobs")  # filled: "More this week"
    build_issue(engine, config, now=MONDAY)
    composer = Composer.open(engine, config, find_issue(engine, "2026-W48"))
    with Session(engine) as session:
        readers = {r.email.split("@")[0]: r for r in session.exec(select(Subscriber))}
    messages = {name: composer.message_for(r, MONDAY) for name, r in readers.items()}
    messages["anyone"] = composer.message_for(sample_reader(), MONDAY)
    return messages


def html_part(message: bytes) -> str:
    import email
    import email.policy

    parsed = email.message_from_bytes(message, policy=email.policy.default)
    return str(parsed.get_body(("html",)).get_content())  # type: ignore[union-attr]


def test_every_unsupported_feature_is_an_accepted_one(engine: Engine, branded: Config, linter: Path) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    report = []
    for name, message in rendered(engine, branded).items():
        page = ARTIFACTS / f"caniemail-{name}.html"
        page.write_text(html_part(message), encoding="utf-8")
        for found in lint(linter, page):
            report.append((name, found))
    assert report, "caniemail found nothing at all: the linter is not reading the email"
    (ARTIFACTS / "caniemail.tsv").write_text(
        "".join(f"{n}\t{f['kind']}\t{f['client']}\t{f['feature']}\t{f['support']}\n" for n, f in report),
        encoding="utf-8",
    )
    unexpected = sorted(
        {
            (f["feature"], f["client"])
            for _, f in report
            if f["kind"] == "errors" and not accepted(f["feature"], f["client"])
        }
    )
    assert not unexpected, f"features these clients cannot show at all: {unexpected}"
    used = {
        (f, g) for f, g in ACCEPTED if any(x["feature"] == f and fnmatch.fnmatch(x["client"], g) for _, x in report)
    }
    assert used == set(ACCEPTED), f"accepted exceptions the email no longer needs: {set(ACCEPTED) - used}"


def test_the_linter_catches_an_unsupported_feature(linter: Path, tmp_path: Path) -> None:
    """The check can fail: a position:absolute (no Gmail supports it) is reported."""
    page = tmp_path / "bad.html"
    page.write_text('<!DOCTYPE html><html><body><div style="position:absolute">x</div></body></html>')
    errors = {(f["feature"], f["client"]) for f in lint(linter, page) if f["kind"] == "errors"}
    assert any(feature == "position" and client.startswith("gmail.") for feature, client in errors), errors


def spam_score(message: bytes) -> tuple[float, str]:
    program = require_program("spamassassin", "apt-get install spamassassin; .ci/run installs it")
    done = subprocess.run([program, "-L", "-t"], input=message, capture_output=True, timeout=120)
    report = done.stdout.decode("utf-8", "replace")
    status = re.search(r"^X-Spam-Status: \w+, score=(-?[\d.]+)", report, re.MULTILINE)
    assert status, f"no X-Spam-Status in spamassassin's answer: {done.stderr[-500:]!r}"
    details = report[report.find("Content analysis details") :]
    return float(status.group(1)), details


def test_spamassassin_scores_every_kind_of_email_zero(engine: Engine, branded: Config) -> None:
    for name, message in rendered(engine, branded).items():
        score, details = spam_score(message)
        assert score <= 0.0, f"{name}'s email scores {score}:\n{details}"


def test_spamassassin_would_see_a_low_contrast_preheader(engine: Engine, branded: Config) -> None:
    """The check can fail: the old preheader, grey text on the grey page, scores."""
    message = rendered(engine, branded)["ada"]
    hidden = message.replace(b'class=3D"preheader" style=3D"', b'class=3D"preheader" style=3D"color:#f3f4f6; ', 1)
    assert hidden != message
    score, details = spam_score(hidden)
    assert score > 0.0 and "HTML_FONT_LOW_CONTRAST" in details, details
