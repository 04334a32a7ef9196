"""Render every config file from templates/ with Jinja2 (StrictUndefined: a missing variable fails)."""

from __future__ import annotations

from functools import cache
from typing import Any

import jinja2

from webbench_lab.paths import TEMPLATES


@cache
def environment(autoescape: bool = False) -> jinja2.Environment:
    """The config files' environment; `autoescape` for the HTML reports (templates/report/)."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        undefined=jinja2.StrictUndefined,
        # The settings of Ansible's template module, so both engines render the same bytes.
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=False,
        autoescape=autoescape,
    )


def render(name: str, **context: Any) -> str:
    """Render templates/<name> with `context`."""
    return environment().get_template(name).render(**context)


def render_html(name: str, **context: Any) -> str:
    """Render the HTML template templates/<name> with `context`, every value escaped (a reason or a
    path may hold `<` or `&`)."""
    return environment(autoescape=True).get_template(name).render(**context)
