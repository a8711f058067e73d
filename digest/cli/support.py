"""What every command module shares: settings loaded on first use, one-line errors, JSON out."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from digest.config import Config, Settings, load_config
from digest.db import database_failure, open_database, open_existing
from digest.errors import DigestError

F = TypeVar("F", bound=Callable[..., Any])
err = Console(stderr=True, highlight=False, width=None if sys.stderr.isatty() else 120)
out = Console(highlight=False, width=None if sys.stdout.isatty() else 120)


def main_output(as_json: bool) -> Console:
    """Where a command's main output (a table, an explanation) goes: stdout, so it can be
    piped or saved; stderr when ``--json`` holds stdout for the contract's object."""
    return err if as_json else out


@dataclass
class State:
    """What the commands share: settings from the environment, loaded on first use."""

    sources_path: Path | None = None
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    _config: Config | None = None
    _engine: Engine | None = None

    @property
    def settings(self) -> Settings:
        return Settings.from_env(self.env)

    @property
    def config(self) -> Config:
        """sources.yaml, checked whole: newsletter.scope is read as roles here too, so a topic
        there stops every command before it starts."""
        if self._config is None:
            from digest.build.reading import scope_of

            config = load_config(self.env, self.sources_path)
            scope_of(config)
            self._config = config
        return self._config

    @property
    def engine(self) -> Engine:
        """The database, created or migrated when needed (for the commands that write)."""
        if self._engine is None:
            self._engine = open_database(self.settings.database_url)
        return self._engine

    def check_mail(self) -> None:
        """For the commands that mail, checked at their start: DIGEST_SMTP_URL parses, and a
        send to a real server has public https links."""
        from digest.config import check_public_links
        from digest.deliver.transport import check_smtp_url

        check_smtp_url(self.settings.smtp_url)
        check_public_links(self.settings)

    @property
    def existing_engine(self) -> Engine | None:
        """For the commands that only read: the database as it is, None when there is none
        yet; nothing is created or migrated (an older schema is an Error: run digest init)."""
        if self._engine is None:
            self._engine = open_existing(self.settings.database_url)
        return self._engine


def friendly_errors(command: F) -> F:
    """Turn DigestError into ``Error: ...`` on stderr and its exit code."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except DigestError as exc:
            click.echo(f"Error: {exc}", err=True)
            sys.exit(exc.exit_code)
        except SQLAlchemyError as exc:  # a full disk, a server gone mid-command
            failure = database_failure(exc)
            click.echo(f"Error: {failure}", err=True)
            sys.exit(failure.exit_code)
        except KeyboardInterrupt:
            click.echo("Error: interrupted", err=True)
            sys.exit(130)

    return wrapper  # type: ignore[return-value]


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))
