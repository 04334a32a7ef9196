"""Run a local command and turn a failure into one readable line instead of a traceback."""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Sequence

from webbench_lab.errors import LabFailure


def run(
    args: Sequence[str],
    *,
    check: bool = True,
    input: str | None = None,
    timeout: float | None = 600,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run `args` (no shell); on a non-zero exit raise LabFailure with its last stderr lines."""
    try:
        proc = subprocess.run(
            list(args),
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            check=False,
        )
    except FileNotFoundError:
        raise LabFailure(f"command not found: {args[0]}; install it (make lab does)") from None
    except subprocess.TimeoutExpired:
        raise LabFailure(f"`{shlex.join(args)}` did not finish within {timeout} s") from None
    if check and proc.returncode != 0:
        tail = " | ".join((proc.stderr or proc.stdout).strip().splitlines()[-3:])
        raise LabFailure(f"`{shlex.join(args)}` failed (exit {proc.returncode}): {tail}")
    return proc


def ok(args: Sequence[str]) -> bool:
    """True when the command exits 0 (used for 'does this exist' probes)."""
    return run(args, check=False).returncode == 0
