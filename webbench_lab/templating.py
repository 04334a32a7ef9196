"""Render every config file from templates/ with Jinja2 (StrictUndefined: a missing variable fails)."""

from __future__ import annotations

from functools import cache
from typing import Any

import jinja2

from webbench_lab.paths import TEMPLATES


@cache
def environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        undefined=jinja2.StrictUndefined,
        # The settings of Ansible's template module, so both engines render the same bytes.
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=False,
        autoescape=False,
    )


def render(name: str, **context: Any) -> str:
    """Render templates/<name> with `context`."""
    return environment().get_template(name).render(**context)


@cache
def html_environment() -> jinja2.Environment:
    """For the HTML reports: the same templates/, but every value escaped (a reason or a path may
    hold `<` or `&`)."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        undefined=jinja2.StrictUndefined,
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_html(name: str, **context: Any) -> str:
    """Render the HTML template templates/<name> with `context`, escaped."""
    return html_environment().get_template(name).render(**context)
