"""Read a data file (YAML: inventory, suite, system; JSON: a results directory's files) and say
in one line where it is broken."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from webbench_lab.errors import UserError
from webbench_lab.paths import REPO


def display(path: Path) -> str:
    """The path as the user knows it: relative to the repository or the working directory."""
    resolved = Path(path).resolve()
    for base in (Path.cwd(), REPO):
        if resolved.is_relative_to(base):
            return str(resolved.relative_to(base))
    return str(path)


def load_mapping(path: Path, not_a_mapping: str = "expected a mapping of fields") -> dict[str, Any]:
    """The file's top-level mapping; invalid YAML names the line and column."""
    where = display(path)
    try:
        data = yaml.safe_load(Path(path).read_text())
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise UserError(f"{where}: invalid YAML{line}: {exc.problem}; fix the syntax") from None
    except yaml.YAMLError as exc:
        raise UserError(f"{where}: invalid YAML: {exc}; fix the syntax") from None
    except OSError as exc:
        raise UserError(f"{where}: cannot read: {exc.strerror}") from None
    if not isinstance(data, dict):
        raise UserError(f"{where}: {not_a_mapping}")
    return data


def load_json(path: Path, fix: str, unreadable: str = "") -> Any:
    """The file's JSON value; a file that is not UTF-8 or not JSON names the byte or the line and
    column, then `fix`; one that cannot be read says why (then `unreadable`, if given)."""
    where = display(path)
    try:
        return json.loads(Path(path).read_bytes().decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise UserError(f"{where}: not UTF-8 (byte {exc.start}); {fix}") from None
    except json.JSONDecodeError as exc:
        raise UserError(
            f"{where}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}; {fix}"
        ) from None
    except OSError as exc:
        raise UserError(
            f"{where}: cannot read: {exc.strerror}{'; ' + unreadable if unreadable else ''}"
        ) from None
