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
    settings = Settings.from_env({"DIGEST_SECRET_KEY": "new, old", "DIGEST_BASE_URL": "https://x.example/"})
    assert settings.secret_keys == ("new", "old") and settings.base_url == "https://x.example"
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
