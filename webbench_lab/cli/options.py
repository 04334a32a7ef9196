"""Options that several commands share, declared once as argparse parent parsers, and the default
inventory (the local lab's) that `-i` falls back to."""

from __future__ import annotations

import argparse
from pathlib import Path

from webbench_lab.errors import UserError
from webbench_lab.paths import LOCAL_INVENTORY


def _inventory() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument(
        "-i",
        "--inventory",
        type=Path,
        action="append",
        metavar="SOURCE",
        help="an Ansible inventory, anything `ansible-inventory -i` takes (YAML, INI, a directory with "
        "group_vars/ and host_vars/, an executable script, a plugin configuration); repeat to merge "
        "several, in order (default: the local lab)",
    )
    return parser


INVENTORY = _inventory()


def json_option(help_text: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--json", action="store_true", help=help_text)
    return parser


def resolve_inventory(sources: list[Path] | None) -> list[Path]:
    """The -i sources in the order given, or the local lab's inventory when there is none."""
    if sources:
        return list(sources)
    if LOCAL_INVENTORY.is_file():
        return [LOCAL_INVENTORY]
    raise UserError(
        f"no inventory given and no local lab ({LOCAL_INVENTORY} is missing); run "
        "`webbench-lab lab up` (as root) first, or pass -i with your inventory"
    )
