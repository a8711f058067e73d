"""sources.yaml and DIGEST_* validation: every mistake is one line naming the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from digest.config import Settings, load_config, parse_sources
from digest.errors import ConfigError
from tests.conftest import ROOT

GOOD_SOURCE = "  - {name: ok, url: feed.xml}\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sources:\n" + GOOD_SOURCE * 0 + "  - {name: a, url: a.xml}\n  - {name: b, url: b.xml}\n"
         "  - {name: c, url: c.xml}\n  - {name: d, url: 'ftp://x/y'}\n",
         "sources.yaml: sources[3].url: not a URL or file path"),
        ("sources:\n  - {name: a}\n", "sources.yaml: sources[0].url: required"),
        ("sources:\n  - {name: a, url: a.xml, colour: red}\n", "sources.yaml: sources[0].colour: unknown key"),
        ("sources:\n  - {name: a, url: a.xml, kind: gigs}\n", "sources.yaml: sources[0].kind: Input should be"),
        ("sources:\n  - {name: a, url: a.xml, format: xml}\n", "sources.yaml: sources[0]: format: 'xml' is not one of"),
        ("sources:\n  - {name: a, url: a.json, format: json}\n", "sources[0]: format json needs a mapping"),
        ("sources:\n  - {name: a, url: a.xml}\n  - {name: a, url: b.xml}\n", "sources: two sources are named 'a'"),
        ("newsletter: {timezone: Mars/Olympus}\n", "newsletter.timezone: unknown timezone"),
        ("newsletter: {schedule: '0 9 * *'}\n", "sources.yaml: newsletter.schedule: not a 5-field cron line"),
        ("newsletter: {from: nobody}\n", "sources.yaml: newsletter.from: not an email address"),
        ("newsletter: {jobs_per_email: -1}\n", "sources.yaml: newsletter.jobs_per_email: Input should be greater"),
        ("sources: [\n", "sources.yaml: line 2: not valid YAML"),
        ("- just\n- a list\n", "sources.yaml: expected a mapping"),
        ("ranking: {match: lots}\n", "sources.yaml: ranking.match: Input should be a valid number"),
        ("newsletter: {accent_color: purple}\n", "newsletter.accent_color: not a colour such as '#5b21b6'"),
        ("newsletter: {accent_color: '#fde047'}\n", "newsletter.accent_color: too light: white button text on it"),
        ("newsletter: {logo_url: 'http://cdn.example.com/l.png'}\n", "newsletter.logo_url: not an https:// image"),
        ("newsletter: {logo_url: 'https://x.example/a\"b.png'}\n", "newsletter.logo_url: not an https:// image"),
    ],
)  # fmt: skip
def test_mistakes_are_one_line_naming_the_field(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_sources(text)
    if not message.startswith("sources.yaml"):
        message = "sources.yaml: " + message
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_the_shipped_sources_yaml_is_valid() -> None:
    config = load_config({}, ROOT / "sources.yaml")
    assert config.newsletter.name and len(config.sources) >= 4
    for source in config.sources:
        assert Path(config.resolve(source)).is_file(), source.name


def test_environment_defaults_and_overrides() -> None:
    assert Settings.from_env({}).database_url == "sqlite:///digest.db"
    assert Settings.from_env({}).smtp_url == "maildir:./outbox"
    new = "n" * 32
    settings = Settings.from_env({"DIGEST_SECRET_KEY": f"{new}, old", "DIGEST_BASE_URL": "https://x.example/"})
    assert settings.secret_keys == (new, "old") and settings.base_url == "https://x.example"
    with pytest.raises(ConfigError, match="DIGEST_BASE_URL: not an http"):
        Settings.from_env({"DIGEST_BASE_URL": "javascript:alert(1)"})


def test_relative_paths_resolve_against_the_file(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "sources.yaml").write_text("sources:\n  - {name: a, url: feeds/a.xml}\n")
    config = load_config({}, tmp_path / "conf" / "sources.yaml")
    assert config.resolve(config.sources[0]) == str(tmp_path / "conf" / "feeds" / "a.xml")


def test_missing_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_config({}, tmp_path / "nope.yaml")


@pytest.mark.parametrize(("value", "starttls"), [("true", True), ("Yes", True), ("1", True), ("on", True),
                                                 ("false", False), ("no", False), ("0", False)])  # fmt: skip
def test_starttls_takes_the_usual_yes_and_no(value: str, starttls: bool) -> None:
    from digest.deliver.transport import parse_smtp_url

    assert parse_smtp_url(f"smtp://relay.example.com:587?starttls={value}").starttls is starttls


@pytest.mark.parametrize("value", ["on-please", "ture", "", "2", "enabled"])
def test_a_starttls_value_that_is_not_yes_or_no_is_refused(value: str) -> None:
    """`starttls=ture` must not send in clear text."""
    from digest.deliver.transport import parse_smtp_url

    with pytest.raises(ConfigError, match=r"DIGEST_SMTP_URL: starttls=.*expected true/false"):
        parse_smtp_url(f"smtp://relay.example.com:587?starttls={value}")


@pytest.mark.parametrize(
    ("smtp", "base", "ok"),
    [
        ("smtp://relay.example.com:587", "https://digest.example.com", True),
        ("smtp://relay.example.com:587", "http://digest.example.com", False),
        ("smtps://relay.example.com", "https://localhost:8000", False),
        ("smtp://relay.example.com", "https://127.0.0.1", False),
        ("smtp://relay.example.com", "https://[::1]:8443", False),
        ("smtp://relay.example.com", "https://127.1", False),
        ("smtp://relay.example.com", "https://[::ffff:127.0.0.1]", False),
        ("smtp://relay.example.com", "https://digest.localhost", False),
        ("smtp://127.0.0.1:2525", "http://localhost:8000", True),  # a test or a local relay: anything goes
        ("smtp://localhost:25", "http://digest.test", True),
        ("smtp://[::1]:25", "http://x.test", True),
        ("maildir:./outbox", "http://localhost:8000", True),
    ],
)
def test_a_real_send_needs_public_https_links(smtp: str, base: str, ok: bool) -> None:
    from digest.config import check_public_links

    settings = Settings(smtp_url=smtp, base_url=base)
    if ok:
        check_public_links(settings)
    else:
        with pytest.raises(ConfigError, match=r"DIGEST_BASE_URL: .* needs the public https address"):
            check_public_links(settings)


def test_a_real_send_with_localhost_links_is_one_error_line(tmp_path: Path) -> None:
    import os
    import shutil
    import subprocess
    import sys

    shutil.copy(ROOT / "sources.yaml", tmp_path)
    shutil.copytree(ROOT / "samples", tmp_path / "samples")
    env = {**os.environ, "DIGEST_DATABASE_URL": f"sqlite:///{tmp_path / 'd.db'}", "DIGEST_SMTP_URL":
           "smtp://relay.example.com:587?starttls=true", "DIGEST_BASE_URL": "http://localhost:8000"}  # fmt: skip
    env.pop("DIGEST_SOURCES", None)
    result = subprocess.run([sys.executable, "-m", "digest", "send"], cwd=tmp_path, env=env, capture_output=True,
                            text=True, timeout=120)  # fmt: skip
    assert result.returncode == 2 and result.stderr.startswith("Error: DIGEST_BASE_URL: "), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_dependency_floors_are_above_known_security_fixes() -> None:
    import tomllib

    from packaging.requirements import Requirement
    from packaging.version import Version

    floors = {"starlette": "0.47.2", "python-multipart": "0.0.18", "h11": "0.16", "jinja2": "3.1.6",
              "cryptography": "42.0.4"}  # fmt: skip
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {Requirement(line).name.lower(): Requirement(line).specifier for line in project["dependencies"]}
    for name, fixed in floors.items():
        release = Version(fixed).release
        below = (*release[:-1], release[-1] - 1)  # the release before the fix
        assert name in declared, name
        assert not declared[name].contains(".".join(map(str, below))), f"{name} still admits {below}"
        assert declared[name].contains(fixed), name


def test_a_removed_key_says_why_and_what_to_do() -> None:
    """delivery.unsubscribe_mailto was accepted and never used: now it is refused, by name, with the fix."""
    with pytest.raises(ConfigError, match=r"delivery: unsubscribe_mailto is no longer read .*; remove it"):
        parse_sources("delivery:\n  unsubscribe_mailto: mailto:leave@example.com\n")
    assert parse_sources("delivery:\n  workers: 2\n").delivery.workers == 2
