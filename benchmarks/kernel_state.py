"""What of the machine's kernel state moves with a run's rates (issue 30, point 0): the rates of a
full run fall by a third in an hour while the server's quota holds, and a fresh lab does not bring
them back, so the cause may be state of the machine that outlives the lab's hosts (sockets, slab
caches, softirq work). All the local hosts share this kernel, so reading it here reads theirs too.

    # beside a run (as root, for /proc/slabinfo): one JSON line per sample
    .venv/bin/python benchmarks/kernel_state.py record --out kstate.jsonl [--interval 10]
    # afterwards: each quantity at each repeat's start, against the repeat's rate
    .venv/bin/python benchmarks/kernel_state.py relate kstate.jsonl results/<run>

`relate` fits what bench/drift.py fits (each case its own level, log scale) and correlates the
repeats' residuals from their case's mean with each quantity (Spearman). Anything that only grows
with time correlates with any trend, so it also prints each quantity's correlation with time: a
quantity says more than the clock only where it tracks the rates better than time does.
"""

from __future__ import annotations

import argparse
import json
import math
import signal
import sys
import time
from collections.abc import Hashable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from webbench_lab.errors import UserError

SOFTIRQS = ("NET_RX", "NET_TX", "TIMER", "SCHED", "RCU", "TASKLET")
SLAB_TOP = 8  # the largest slab caches by memory, named in each sample
MEMINFO = ("MemFree", "Cached", "Slab", "SReclaimable", "SUnreclaim", "PageTables", "Percpu")


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def sockstat(text: str) -> dict[str, int]:
    """`TCP: inuse 5 orphan 0 tw 2 alloc 7 mem 1` -> {"TCP.inuse": 5, ...} for every line."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        proto, _, rest = line.partition(":")
        words = rest.split()
        for name, value in zip(words[::2], words[1::2], strict=False):
            if value.isdigit():
                out[f"{proto.strip()}.{name}"] = int(value)
    return out


def softirqs(text: str) -> dict[str, int]:
    """/proc/softirqs: each kind's count, summed over the CPUs."""
    out: dict[str, int] = {}
    for line in text.splitlines()[1:]:
        name, _, counts = line.partition(":")
        if name.strip() in SOFTIRQS:
            out[f"softirq.{name.strip()}"] = sum(int(c) for c in counts.split() if c.isdigit())
    return out


def meminfo(text: str) -> dict[str, int]:
    out = {}
    for line in text.splitlines():
        name, _, rest = line.partition(":")
        if name in MEMINFO and rest.split():
            out[f"mem.{name}_kib"] = int(rest.split()[0])
    return out


def slabs(text: str, top: int = SLAB_TOP) -> dict[str, int]:
    """/proc/slabinfo (root only): the `top` caches by the memory of their active objects, KiB."""
    sizes = []
    for line in text.splitlines()[2:]:
        parts = line.split()
        if len(parts) > 3 and parts[1].isdigit() and parts[3].isdigit():
            sizes.append((int(parts[1]) * int(parts[3]) // 1024, parts[0]))
    return {f"slab.{name}_kib": kib for kib, name in sorted(sizes, reverse=True)[:top]}


def cpu_stat(text: str) -> dict[str, int]:
    """The whole machine's CPU time in ticks: softirq, steal, system, iowait (/proc/stat)."""
    for line in text.splitlines():
        if line.startswith("cpu "):
            f = [int(x) for x in line.split()[1:]]
            return {"cpu.system": f[2], "cpu.iowait": f[4], "cpu.softirq": f[6], "cpu.steal": f[7]}
    return {}


def sample() -> dict[str, Any]:
    now = {"epoch": time.time()}
    now.update(sockstat(_read("/proc/net/sockstat")))
    now.update(softirqs(_read("/proc/softirqs")))
    now.update(meminfo(_read("/proc/meminfo")))
    now.update(slabs(_read("/proc/slabinfo")))
    now.update(cpu_stat(_read("/proc/stat")))
    files = _read("/proc/sys/fs/file-nr").split()
    if files:
        now["files.open"] = int(files[0])
    now["procs"] = sum(1 for p in Path("/proc").iterdir() if p.name.isdigit())
    return now


def record(out: Path, interval: float, seconds: float | None) -> None:
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    ends = None if seconds is None else time.monotonic() + seconds
    with out.open("a", encoding="utf-8") as f:
        try:
            while not stop and (ends is None or time.monotonic() < ends):
                f.write(json.dumps(sample()) + "\n")
                f.flush()
                time.sleep(interval)
        except KeyboardInterrupt:
            pass


COUNTERS = ("softirq.", "cpu.")  # counts since boot: per second between samples instead


def per_second(samples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each sample with its counters (COUNTERS) as rates since the sample before it; the first
    sample keeps only its levels. A count since boot only grows, so it would track time alone."""
    out = []
    for before, now in zip([None, *samples], samples, strict=False):
        row = {k: v for k, v in now.items() if not k.startswith(COUNTERS)}
        dt = now["epoch"] - before["epoch"] if before else 0
        if before and dt > 0:
            for k, v in now.items():
                if k.startswith(COUNTERS) and k in before:
                    row[k + "/s"] = (v - before[k]) / dt
        out.append(row)
    return out


def _at(samples: list[dict[str, Any]], epoch: float) -> dict[str, Any] | None:
    """The last sample at or before `epoch` (None before the first)."""
    before = [s for s in samples if s["epoch"] <= epoch]
    return before[-1] if before else None


def residuals(rates: list[tuple[Hashable, float]]) -> list[float | None]:
    """(case, rate) each: its log rate minus its case's mean log rate, in the same order (None where
    its case has a single repeat, which has no residual to tell)."""
    by_case: dict[Hashable, list[float]] = {}
    for case, rate in rates:
        by_case.setdefault(case, []).append(math.log(rate))
    means = {case: sum(v) / len(v) for case, v in by_case.items()}
    return [math.log(rate) - means[case] if len(by_case[case]) > 1 else None for case, rate in rates]


def relate(samples: list[dict[str, Any]], repeats: list[tuple[str, float, float]]) -> list[dict[str, Any]]:
    """`repeats`: (case, start epoch, rate). For each quantity: Spearman's rho (and p) of its value
    at each repeat's start with the repeat's log rate minus its case's mean, and with the time."""
    from scipy import stats as sps

    ys_all = residuals([(case, rate) for case, _, rate in repeats])
    rows = []
    names = sorted({k for s in samples for k in s if k != "epoch"})
    for name in names:
        xs, ys, ts = [], [], []
        for (_, epoch, _), y in zip(repeats, ys_all, strict=True):
            s = _at(samples, epoch)
            if s is not None and name in s and y is not None:
                xs.append(float(s[name]))
                ys.append(y)
                ts.append(epoch)
        if len(xs) < 5 or len(set(xs)) < 3:
            continue  # too few points, or a constant: nothing to say
        rho, p = sps.spearmanr(xs, ys)
        rho_t, _ = sps.spearmanr(xs, ts)
        rows.append({"quantity": name, "n": len(xs), "rho_rate": float(rho), "p": float(p),
                     "rho_time": float(rho_t), "first": xs[0], "last": xs[-1]})  # fmt: skip
    return sorted(rows, key=lambda r: -abs(r["rho_rate"]))


def _repeats(run: Path) -> list[tuple[str, float, float]]:
    from webbench_lab.bench.record import stamp_seconds
    from webbench_lab.bench.results import read_summary

    out = []
    for r in read_summary(run):
        if r.ok and r.rate and r.started:
            out.append((f"{r.system} L{r.level} {r.scenario}", stamp_seconds(r.started), float(r.rate)))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    rec = sub.add_parser("record")
    rec.add_argument("--out", type=Path, required=True)
    rec.add_argument("--interval", type=float, default=10.0)
    rec.add_argument(
        "--seconds", type=float, default=None, help="stop after this long (default: on a signal)"
    )
    rel = sub.add_parser("relate")
    rel.add_argument("samples", type=Path)
    rel.add_argument("run", type=Path, help="a results directory with summary.json")
    rel.add_argument("--top", type=int, default=15)
    args = parser.parse_args(argv)
    if args.cmd == "record":
        record(args.out, args.interval, args.seconds)
        return 0
    try:
        samples = [json.loads(line) for line in args.samples.read_text(encoding="utf-8").splitlines() if line]
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        print(
            f"kernel_state: {args.samples}: cannot read samples ({exc}); give record's --out file",
            file=sys.stderr,
        )
        return 2
    try:
        repeats = _repeats(args.run)
    except (OSError, UnicodeDecodeError, ValueError, UserError) as exc:
        print(
            f"kernel_state: {args.run}: not a results directory ({exc}); give a run's folder", file=sys.stderr
        )
        return 2
    print(
        f"{len(samples)} samples, {len(repeats)} ok repeats; Spearman's rho with the rate's residual and time"
    )
    for row in relate(per_second(samples), repeats)[: args.top]:
        print(f"{row['quantity']:32} n {row['n']:4}  rho(rate) {row['rho_rate']:+.2f} (p {row['p']:.2g})  "
              f"rho(time) {row['rho_time']:+.2f}  {row['first']:g} -> {row['last']:g}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
