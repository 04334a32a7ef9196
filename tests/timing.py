"""Where `make test`'s time goes: a pytest plugin that writes, with `--times-json PATH`, every
test's setup, call and teardown time, and every lab step the e2e fixtures and tests run through
the CLI (lab up, provision, audit, bench) with the test it ran in. benchmarks/make_test_times.py
prints the breakdown (issue 29, point 1)."""

from __future__ import annotations

import itertools
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

_steps: list[dict[str, Any]] = []
_tests: dict[str, dict[str, Any]] = {}
_current = {"nodeid": "", "phase": "", "lab": ""}
_started = {"wall": 0.0}


def set_lab(kind: str | None) -> None:
    """The e2e fixtures say which lab is up, so that each test and step is charged to it."""
    _current["lab"] = kind or ""


def record_step(args: tuple[str, ...], seconds: float, returncode: int) -> None:
    """One CLI call of a test or fixture: its command words, time and exit code."""
    # The command words before the first option ("lab up", "audit"), and the engine, which says
    # more than the command: option values such as --out's path would split one step into many.
    words = list(itertools.takewhile(lambda a: not a.startswith("-"), args))[:2]
    if "--engine" in args[:-1]:
        words.append(args[args.index("--engine") + 1])
    _steps.append(
        {
            "step": " ".join(words),
            "args": list(args),
            "quick": "--quick" in args,
            "seconds": round(seconds, 3),
            "returncode": returncode,
            "test": _current["nodeid"],
            "phase": _current["phase"],
            "lab": _current["lab"],
            "at": round(time.monotonic() - _started["wall"], 3),
        }
    )


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--times-json",
        default=None,
        help="write each test's and each lab step's time to this JSON file (benchmarks/make_test_times.py)",
    )


def pytest_sessionstart(session: pytest.Session) -> None:
    _started["wall"] = time.monotonic()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item: pytest.Item):
    _current.update(nodeid=item.nodeid, phase="setup")
    yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item):
    _current.update(nodeid=item.nodeid, phase="call")
    yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item: pytest.Item):
    _current.update(nodeid=item.nodeid, phase="teardown")
    yield


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    entry = _tests.setdefault(
        report.nodeid,
        {"e2e": "e2e" in report.keywords, "lab": _current["lab"], "outcome": "passed"},
    )
    entry[report.when] = round(report.duration, 3)
    if report.outcome == "failed":
        entry["outcome"] = "failed" if report.when == "call" else "error"
    elif report.outcome == "skipped":
        entry["outcome"] = "skipped"
    if report.when == "call":
        entry["lab"] = _current["lab"] or entry["lab"]


def pytest_sessionfinish(session: pytest.Session) -> None:
    out = session.config.getoption("--times-json")
    if not out:
        return
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {
        "wall_seconds": round(time.monotonic() - _started["wall"], 3),
        "pid": os.getpid(),
        "tests": _tests,
        "steps": _steps,
    }
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n")
    tmp.replace(path)
