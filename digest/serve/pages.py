"""The pages of ``digest serve``, from Jinja templates in ``templates/pages/``.

An operator overrides a page as they override the email: a file of the same name in
``templates/pages/`` next to sources.yaml. Everything is escaped (autoescape on, always:
these pages show what readers typed); a page's body made here is marked safe explicitly."""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from digest.config import Config
from digest.errors import ConfigError


class Pages:
    """Renders the pages, with the newsletter's name and the site's style in every one."""

    def __init__(self, config: Config) -> None:
        dirs = config.template_dirs("pages")
        if not dirs:
            raise ConfigError("no page templates found (templates/pages/ next to sources.yaml, or the packaged ones)")
        self.env = Environment(
            loader=FileSystemLoader([str(d) for d in dirs]),
            autoescape=True,
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.newsletter = config.newsletter

    def render(self, template: str, /, **context: Any) -> str:
        return self.env.get_template(template).render(newsletter=self.newsletter, **context)

    def message(self, title: str, body: str) -> str:
        """A short page: a title and a body of HTML made by digest itself (never a reader's text)."""
        return self.render("message.html", title=title, body=Markup(body))
