"""One rich console for progress lines, so --json output on stdout stays clean."""

from __future__ import annotations

import time

from rich.console import Console

console = Console(stderr=True, highlight=False, soft_wrap=True)
# Results a command exists to print (status tables) go to stdout.
out = Console(highlight=False, soft_wrap=True)
if not out.is_terminal:
    out.width = 160  # tables in logs and pipes: no wrapping at 80 columns


def step(message: str) -> None:
    """One line of progress, with the wall-clock time since the command started."""
    console.print(f"[dim]{time.monotonic() - _START:6.1f}s[/dim] {message}")


_START = time.monotonic()
