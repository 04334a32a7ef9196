"""Shared helpers: inventories written to a temp dir, with real key and known_hosts files."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

pytest_plugins = ["tests.timing"]


@pytest.fixture
def ssh_files(tmp_path: Path) -> tuple[Path, Path]:
    key = tmp_path / "id_test"
    key.write_text("not a real key: only its existence is checked when loading\n")
    key.chmod(0o600)
    known = tmp_path / "known_hosts"
    known.write_text("")
    return key, known


@pytest.fixture
def write_inventory(tmp_path: Path, ssh_files):
    """Write an inventory built from a dict (defaults: a valid two-host lab) and return its path."""
    key, known = ssh_files

    def write(data: dict | None = None, text: str | None = None, name: str = "inv.yml") -> Path:
        path = tmp_path / name
        if text is None:
            if data is None:
                data = valid_inventory(key, known)
            text = yaml.safe_dump(data)
        path.write_text(text)
        return path

    return write


def valid_inventory(key: Path, known: Path) -> dict:
    return {
        "all": {
            "vars": {
                "ansible_user": "root",
                "ansible_ssh_private_key_file": str(key),
                "lab_known_hosts_file": str(known),
            },
            "children": {
                "generator": {
                    "hosts": {
                        "gen1": {
                            "ansible_host": "198.18.0.2",
                            "lab_bench_address": "198.19.0.1",
                            "lab_cpus": "0",
                        }
                    }
                },
                "server": {
                    "hosts": {
                        "srv1": {
                            "ansible_host": "198.18.0.3",
                            "ansible_port": 2222,
                            "lab_bench_address": "198.19.0.2",
                            "lab_cpus": "1",
                        }
                    }
                },
            },
        }
    }
