"""CPU time of one sampler reading on this machine's /proc (median and p90 of 300), the way the
agent's sampler reads each second: the CPUs' jiffies, one scan of every process, the system's
members. `.venv/bin/python benchmarks/sampler_cost.py`"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from webbench_lab.agent import appctl


def main(readings: int = 300) -> None:
    cpus = appctl._allowed_cpus()
    reader = appctl._SystemReader("nothing")
    costs = []
    for _ in range(readings):
        started = time.process_time()
        appctl._cpu_ticks(cpus)
        scan = appctl._scan()
        appctl._process_ticks(scan) + appctl._irq_ticks(cpus)
        reader.members(scan)
        costs.append(time.process_time() - started)
    processes = sum(1 for p in os.listdir("/proc") if p.isdigit())
    print(
        f"{processes} processes: a reading takes {statistics.median(costs) * 1e3:.2f} ms of CPU "
        f"(median; p90 {sorted(costs)[int(readings * 0.9)] * 1e3:.2f} ms)"
    )


if __name__ == "__main__":
    main()
