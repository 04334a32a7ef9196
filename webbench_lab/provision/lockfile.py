"""Regenerate apps/python-stack.lock from apps/python-stack.in (`make lock`).

pip resolves for CPython 3.11 binary wheels on manylinux x86_64, the server's Python (Debian 12),
without installing anything, and every resolved distribution is pinned.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from webbench_lab.commands import run
from webbench_lab.fsutil import write_atomic
from webbench_lab.paths import PYTHON_LOCK
from webbench_lab.provision.artifacts import server_wheel_args

SOURCE = PYTHON_LOCK.with_suffix(".in")
HEADER = (
    "# Generated from python-stack.in by 'make lock' for CPython 3.11 (Debian 12), binary wheels.\n"
    "# Every line is pinned; provisioning installs exactly these with --no-deps.\n"
)


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        args = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet"]
        args += ["--report", str(report), "--target", str(Path(tmp) / "target")]
        run([*args, *server_wheel_args(), "-r", str(SOURCE)], timeout=900)
        installs = json.loads(report.read_text())["install"]
    pins = sorted(
        (f"{i['metadata']['name']}=={i['metadata']['version']}" for i in installs),
        key=str.lower,
    )
    write_atomic(PYTHON_LOCK, HEADER + "\n".join(pins) + "\n")
    print(f"{PYTHON_LOCK}: {len(pins)} pinned distributions")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
