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
        "-i", "--inventory", type=Path, help="Ansible YAML inventory (default: the local lab)"
    )
    return parser


INVENTORY = _inventory()


def json_option(help_text: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--json", action="store_true", help=help_text)
    return parser


def resolve_inventory(path: Path | None) -> Path:
    if path is not None:
        return path
    if LOCAL_INVENTORY.is_file():
        return LOCAL_INVENTORY
    raise UserError(
        f"no inventory given and no local lab ({LOCAL_INVENTORY} is missing); run "
        "`webbench-lab lab up` (as root) first, or pass -i with your inventory"
    )
