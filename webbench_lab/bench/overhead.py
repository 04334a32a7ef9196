"""Benchmark (not a test): the runner's overhead on a real run.

    python -m webbench_lab.bench.overhead [bench options...]      (make bench-overhead)

Runs `webbench-lab bench` with the given options and prints wall time / (sum of measurement
durations + warm-ups) over the cases that were measured. Goal: at most 1.10.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from webbench_lab.bench.results import read_summary


def main(argv: list[str]) -> int:
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "webbench_lab", "bench", *argv], capture_output=True, text=True
    )
    wall = time.monotonic() - started
    sys.stdout.write(proc.stdout)
    line = next((ln for ln in proc.stderr.splitlines() if ln.startswith("results: ")), None)
    if line is None:
        sys.stderr.write(proc.stderr)
        return proc.returncode or 1
    path = Path(line.split(": ", 1)[1].strip())
    manifest = json.loads((path / "manifest.json").read_text())
    rows = read_summary(path)
    measured = [r for r in rows if r.ok]
    settings = manifest["settings"]
    load_seconds = len(measured) * (settings["duration_s"] + settings["warmup_s"])
    print(f"results: {path}")
    print(
        f"cases measured: {len(measured)} of {len(rows)}; load time {load_seconds} s; wall time {wall:.1f} s"
    )
    if load_seconds:
        print(f"runner overhead: wall / (measurement + warm-up) = {wall / load_seconds:.3f} (goal <= 1.10)")
    for r in measured:
        flag = " generator-bound" if r.generator_bound else ""
        print(f"  {r.case}: {r.rate or 0:.0f} {r.load_tool} rate/s{flag}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
