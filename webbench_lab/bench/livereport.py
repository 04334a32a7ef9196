"""report.md and report.html kept current while a run goes on, so that a reader can follow a long
run in a browser: after each case both are rendered again from the results directory
(`webbench-lab report`, bench/rerender.py) in a child process at the lowest CPU priority, at most
one at a time. The driver shares its machine with a local lab: rendering in the driver would take
2-4 s of CPU from the next case's server or generator; at nice 19 it takes what they leave. The
run's end waits for the last child, then renders both itself."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

WAIT_S = 120.0  # a render that takes longer than this at the end is stopped (the end renders anyway)


class LiveReport:
    def __init__(self, path: Path, command: list[str] | None = None) -> None:
        self.command = command or [sys.executable, "-m", "webbench_lab", "report", str(path)]
        self.child: subprocess.Popen[bytes] | None = None
        self.started = 0

    def kick(self) -> None:
        """Render again, unless a render is still going (the next case kicks again)."""
        if self.child is not None and self.child.poll() is None:
            return
        self.child = subprocess.Popen(
            self.command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=_lowest_priority,
        )
        self.started += 1

    def wait(self, timeout: float = WAIT_S) -> None:
        """Before the run's own last render: the child is done, or stopped."""
        if self.child is None:
            return
        try:
            self.child.wait(timeout)
        except subprocess.TimeoutExpired:
            self.child.kill()
            self.child.wait()


def _lowest_priority() -> None:
    os.nice(19)
