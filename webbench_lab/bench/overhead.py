"""Benchmark (not a test): the runner's overhead on a real run, and where it goes.

    python -m webbench_lab.bench.overhead [bench options...]      (make bench-overhead)
    python -m webbench_lab.bench.overhead --results RESULTS_DIR   (an existing run, from its files)

Overhead = wall time / (measurement + warm-up of every measured case). The breakdown says where
the rest goes: before the first case (checks, verification, the generator's ceilings), between
cases (stop, start, the idle check), inside a case beyond its load (samplers, collection) and
after the last case, so that a change to the runner can be judged by the phase it changes.
"""

from __future__ import annotations

import itertools
import json
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from webbench_lab.bench.record import CaseRecord, stamp_seconds
from webbench_lab.bench.results import read_summary

GOAL = 1.05  # issue 11's goal; README "Runner overhead" says what isolation costs against it


@dataclass(frozen=True)
class Overhead:
    wall_s: float
    load_s: float  # measurement + warm-up of the measured cases
    measured: int
    before_first_s: float
    between_s: list[float]  # from one case's end to the next one's start
    idle_check_s: float  # of which the idle checks before the cases (each at least its window)
    inside_s: float  # the cases' own spans beyond their load
    after_last_s: float

    @property
    def ratio(self) -> float | None:
        return self.wall_s / self.load_s if self.load_s else None


def breakdown(manifest: dict, records: list[CaseRecord], wall_s: float | None = None) -> Overhead:
    """Where a run's time went, from its manifest and records (timestamps are whole seconds).
    `wall_s` is the driver's own wall time when known; else the manifest's start to end."""
    timed = sorted((r for r in records if r.started and r.ended), key=lambda r: r.started or "")
    measured = [r for r in records if r.ok]
    load = sum((r.duration_s or 0) + (r.warmup_s or 0) for r in measured)
    start = stamp_seconds(manifest["started"])
    end = stamp_seconds(manifest["ended"]) if manifest.get("ended") else None
    if wall_s is None:
        wall_s = (end - start) if end is not None else 0.0
    if not timed:
        return Overhead(wall_s, load, len(measured), wall_s, [], 0.0, 0.0, 0.0)
    spans = [(stamp_seconds(r.started or ""), stamp_seconds(r.ended or "")) for r in timed]
    between = [b[0] - a[1] for a, b in itertools.pairwise(spans)]
    inside = sum(e - s for s, e in spans) - sum(
        (r.duration_s or 0) + (r.warmup_s or 0) for r in timed if r.ok
    )
    return Overhead(
        wall_s=wall_s,
        load_s=load,
        measured=len(measured),
        before_first_s=spans[0][0] - start,
        between_s=between,
        idle_check_s=sum(float((r.idle or {}).get("waited_s") or 0) for r in timed[1:]),
        inside_s=inside,
        after_last_s=(start + wall_s) - spans[-1][1],
    )


def describe(o: Overhead) -> list[str]:
    lines = [f"cases measured: {o.measured}; load time {o.load_s:.0f} s; wall time {o.wall_s:.1f} s"]
    if o.ratio is not None:
        lines.append(f"runner overhead: wall / (measurement + warm-up) = {o.ratio:.3f} (goal <= {GOAL})")
    lines.append(f"  before the first case (checks, verification, ceilings): {o.before_first_s:.0f} s")
    if o.between_s:
        lines.append(
            f"  between cases (stop, start, idle check): {sum(o.between_s):.0f} s over {len(o.between_s)}"
            f" gaps, median {statistics.median(o.between_s):.1f} s, max {max(o.between_s):.0f} s"
        )
        lines.append(f"    of which the idle checks: {o.idle_check_s:.0f} s")
    lines.append(f"  inside cases beyond their load (samplers, collection, retries): {o.inside_s:.0f} s")
    lines.append(f"  after the last case (report, audit): {o.after_last_s:.0f} s")
    return lines


def main(argv: list[str]) -> int:
    if argv[:1] == ["--results"] and len(argv) == 2:
        path = Path(argv[1])
        manifest = json.loads((path / "manifest.json").read_text())
        if manifest.get("resumes"):
            print(f"{path}: resumed {len(manifest['resumes'])} time(s); its wall time includes the pauses")
        wall = None
    else:
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
    print(f"results: {path}")
    for line in describe(breakdown(manifest, rows, wall)):
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
