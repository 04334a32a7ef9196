"""Where one `make test` spent its time (issue 29, point 1): reads the JSON files that
`pytest --times-json PATH` wrote (`make test` writes .lab/test-times-unit.json and
.lab/test-times-e2e.json, two sessions that run side by side) and prints each session's wall time,
the unit tests' time, each lab's build, provisioning and tests, each bench run (QUICK or not) and the
slowest tests.

    .venv/bin/python benchmarks/make_test_times.py [PATH ...] [--top 15]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any


def _fmt(seconds: float) -> str:
    m, s = divmod(round(seconds), 60)
    return f"{m} min {s:02d} s" if m else f"{s} s"


def _total(test: dict[str, Any]) -> float:
    return float(test.get("setup", 0) + test.get("call", 0) + test.get("teardown", 0))


DEFAULT_PATHS = [".lab/test-times-unit.json", ".lab/test-times-e2e.json"]


def merge(sessions: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Several sessions' files (by path) as one: their tests and steps, and each one's wall time."""
    merged: dict[str, Any] = {"walls": {}, "tests": {}, "steps": []}
    for path, data in sessions.items():
        merged["walls"][path] = (data["wall_seconds"], len(data["tests"]))
        merged["tests"].update(data["tests"])
        merged["steps"].extend(data["steps"])
    return merged


def breakdown(data: dict[str, Any], top: int = 15) -> list[str]:
    tests: dict[str, dict[str, Any]] = data["tests"]
    steps: list[dict[str, Any]] = data["steps"]
    walls = data.get("walls") or {"session": (data["wall_seconds"], len(tests))}
    lines = [f"{name} wall time: {_fmt(wall)} ({n} tests)" for name, (wall, n) in walls.items()]
    outcomes: dict[str, int] = defaultdict(int)
    for t in tests.values():
        outcomes[t["outcome"]] += 1
    lines.append("  outcomes: " + ", ".join(f"{n} {o}" for o, n in sorted(outcomes.items())))

    unit = [t for t in tests.values() if not t["e2e"]]
    lines.append(f"unit tests: {len(unit)} in {_fmt(sum(map(_total, unit)))}")

    lines.append("labs (in the order built; steps are CLI calls of fixtures and tests):")
    order: list[str] = []
    for s in steps:
        if s["lab"] and s["lab"] not in order:
            order.append(s["lab"])
    for t in tests.values():
        if t["e2e"] and t["lab"] and t["lab"] not in order:
            order.append(t["lab"])
    for lab in order:
        mine = [s for s in steps if s["lab"] == lab]
        kinds: dict[str, list[float]] = defaultdict(list)
        for s in mine:
            kind = "bench QUICK" if s["step"].startswith("bench") and s["quick"] else s["step"]
            kinds[kind].append(s["seconds"])
        its_tests = [t for t in tests.values() if t["e2e"] and t["lab"] == lab]
        lines.append(f"  {lab}: {len(its_tests)} tests in {_fmt(sum(map(_total, its_tests)))}, of which")
        for kind, secs in sorted(kinds.items(), key=lambda kv: -sum(kv[1])):
            each = ", ".join(f"{x:.0f}" for x in secs)
            lines.append(f"    {kind:<16} {len(secs)}x  {_fmt(sum(secs)):>12}  ({each} s)")

    benches = [s for s in steps if s["step"].startswith("bench")]
    lines.append(f"bench runs through the CLI: {len(benches)} in {_fmt(sum(s['seconds'] for s in benches))}")
    for s in benches:
        tag = "QUICK" if s["quick"] else "full "
        lines.append(f"  {s['seconds']:7.1f} s  {tag}  {s['lab'] or '-':<8} {s['test']}")

    lines.append(f"slowest {top} tests (setup + call + teardown, lab builds in setup included):")
    ranked = sorted(tests.items(), key=lambda kv: -_total(kv[1]))[:top]
    for nodeid, t in ranked:
        lines.append(
            f"  {_total(t):7.1f} s  (setup {t.get('setup', 0):.0f}, call {t.get('call', 0):.0f})  {nodeid}"
        )
    return lines


LAB_NAMES = {"pyinfra": "default", "real": "real machines", "bare": "bare"}


def markdown_table(data: dict[str, Any]) -> list[str]:
    """Each e2e check (test), the lab it ran on and its time, in run order: CONTRIBUTING.md's table."""
    lines = ["| check | lab | time (s) |", "| --- | --- | ---: |"]
    for nodeid, t in data["tests"].items():
        if t["e2e"]:
            lab = LAB_NAMES.get(t["lab"], t["lab"] or "none")
            lines.append(f"| `{nodeid.removeprefix('tests/e2e/')}` | {lab} | {_total(t):.0f} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("paths", nargs="*", default=DEFAULT_PATHS)
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--markdown", action="store_true", help="the e2e checks as a Markdown table")
    args = parser.parse_args(argv)
    sessions: dict[str, dict[str, Any]] = {}
    for name in args.paths:
        path = Path(name)
        try:
            sessions[name] = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            print(
                f"{path}: not found; run `make test` (it writes it) or pytest --times-json {path}",
                file=sys.stderr,
            )
            return 2
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            print(
                f"{path}: not a times file of pytest --times-json ({exc}); run make test again",
                file=sys.stderr,
            )
            return 2
    merged = merge(sessions)
    print("\n".join(markdown_table(merged) if args.markdown else breakdown(merged, args.top)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
