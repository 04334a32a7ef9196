"""The house: every import runs down the floors of ARCHITECTURE.md, so each stage can be read, tested
and changed without the ones above it."""

from __future__ import annotations

import ast
from pathlib import Path

from webbench_lab.paths import PACKAGE

# Top floor first. "ground" is the package's own top-level modules; agent/ imports nothing of ours.
FLOORS = ["cli", "bench", "audit", "provision", "apps", "locallab", "hosts", "ground", "agent"]


def _floor(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and (PACKAGE / parts[1]).is_dir() else "ground"


def _imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("webbench_lab"):
            if node.module == "webbench_lab":
                found += [f"webbench_lab.{a.name}" for a in node.names]
            else:
                found.append(node.module)
        elif isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.startswith("webbench_lab")]
    return found


def test_every_import_runs_downward():
    upward = []
    for path in PACKAGE.rglob("*.py"):
        if path.name == "__main__.py":  # `python -m webbench_lab`: the entry point, above everything
            continue
        module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        here = FLOORS.index(_floor(module))
        for target in _imports(path):
            if FLOORS.index(_floor(target)) < here:
                upward.append(f"{module} imports {target}")
    assert upward == []


def test_the_agent_uses_the_standard_library_only():
    for path in (PACKAGE / "agent").glob("*.py"):
        assert _imports(path) == [], path.name


def test_every_package_is_a_floor():
    packages = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert packages == set(FLOORS) - {"ground"}
