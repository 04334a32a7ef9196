"""`webbench-lab audit --check`: how the setup of the hosts differs from the lab's desired state.

Up to three views, each from its own source: Ansible's check mode with diffs, pyinfra's change
detection (operations worked out from facts, nothing executed), and the audit now against a stored
audit of the same machines (audit/baseline.py: the last one, or the one given with --baseline).
Runtime state (audit/runtime.py) is in no view: provisioning neither makes nor repairs it. Each
engine runs in its own process: pyinfra needs gevent's patched sockets, ansible-runner must not
have them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from webbench_lab.audit import baseline, collect
from webbench_lab.audit.diff import Drift, compare
from webbench_lab.errors import LabFailure, UserError
from webbench_lab.hosts.inventory import LabInventory
from webbench_lab.provision import ENGINES


def engine_check(engine: str, inventory: LabInventory) -> list[Drift]:
    """`provision --engine E --check --json` in a child process -> one Drift per change it would make."""
    argv = [sys.executable, "-m", "webbench_lab", "provision"]
    argv += [arg for source in inventory.sources for arg in ("-i", str(source))]
    proc = subprocess.run(
        [*argv, "--engine", engine, "--check", "--json"], capture_output=True, text=True, timeout=1800
    )
    source = f"{engine} check"
    if proc.returncode == 2:
        raise UserError(_last_line(proc.stderr).removeprefix("webbench-lab: "))
    try:
        result: dict[str, Any] = json.loads(proc.stdout)
    except ValueError:
        raise LabFailure(f"{source}: {_last_line(proc.stderr)}") from None
    drifts = []
    for host, res in result["hosts"].items():
        drifts += [Drift(host, source, d["what"], d["expected"], d["found"]) for d in res["details"]]
        drifts += [Drift(host, source, failed, "runs in check mode", "failed") for failed in res["failed"]]
    return drifts


@dataclass(frozen=True)
class CheckResult:
    drifts: list[Drift]
    baseline: str  # one line: which baseline was used, and why
    current: dict[str, Any]  # the audit taken now (its runtime state is shown apart)


def check(
    inventory: LabInventory, audit_roots: list[Path], pinned: tuple[Path, dict[str, Any]] | None = None
) -> CheckResult:
    """Every drift from the engines' checks and from the baseline: `pinned` (--baseline, read
    before), else the last stored audit of the same machines, else none (the desired state only).

    The audit comes first, then both engines' checks side by side: a check puts a local lab's
    hosts on every CPU without their CPU limit while it runs (cpulimit.whole_machine), and an
    audit taken meanwhile recorded the widened cpuset, core count and limit as drift."""
    current = collect.collect(inventory)
    with ThreadPoolExecutor(max_workers=len(ENGINES)) as pool:
        engines = [pool.submit(engine_check, engine, inventory) for engine in sorted(ENGINES)]
        drifts = [d for future in engines for d in future.result()]
    if pinned is not None:
        chosen = baseline.pinned(current, *pinned)
        source = "baseline"
    else:
        chosen = baseline.choose(current, baseline.stored(inventory, audit_roots))
        source = "last audit"
    if chosen.audit is not None:
        drifts += compare(chosen.audit, current, source=source)
    return CheckResult(drifts, chosen.line, current)


def _last_line(text: str) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else "no output"
