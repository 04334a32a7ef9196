"""`webbench-lab audit --check`: how the hosts differ from the lab's desired state.

Three views, each from its own source: Ansible's check mode with diffs, pyinfra's change detection
(operations worked out from facts, nothing executed), and the audit now against the last stored
one. Each engine runs in its own process: pyinfra needs gevent's patched sockets, ansible-runner
must not have them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from webbench_lab.audit import collect
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


def check(inventory: LabInventory, audit_roots: list[Path]) -> tuple[list[Drift], str]:
    """Every drift from the three views, and a line that says what the audit was compared with."""
    with ThreadPoolExecutor(max_workers=len(ENGINES) + 1) as pool:
        engines = [pool.submit(engine_check, engine, inventory) for engine in sorted(ENGINES)]
        now = pool.submit(collect.collect, inventory)
        drifts = [d for future in engines for d in future.result()]
        current = now.result()
    baseline = collect.last_stored(inventory, audit_roots)
    if baseline is None:
        return drifts, "no stored audit of these hosts to compare with (run `webbench-lab audit` to take one)"
    path, data = baseline
    return drifts + compare(data, current, source="last audit"), f"compared with the last audit: {path}"


def _last_line(text: str) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else "no output"
