"""The agent's `run`: a load tool that overstays its time gets SIGINT (and prints its summary),
one that ignores SIGINT is killed at the timeout; both are reported."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

AGENT = Path(__file__).resolve().parents[2] / "webbench_lab" / "agent" / "appctl.py"

# Prints a summary on SIGINT, like siege; otherwise it would wait far past its time.
OVERSTAYS = (
    "import signal, sys, time\n"
    "signal.signal(signal.SIGINT, lambda *a: (print('{\"summary\": 1}', flush=True), sys.exit(0)))\n"
    "time.sleep(60)\n"
)
IGNORES = "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\ntime.sleep(60)\n"


def run_agent(tmp_path: Path, spec: dict) -> dict:
    proc = subprocess.run(
        [sys.executable, str(AGENT), "run"],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        timeout=30,
        env={"WEBBENCH_RUN_ROOT": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_overstaying_tool_gets_sigint_and_its_summary_is_kept(tmp_path):
    out = tmp_path / "a.out"
    spec = {"name": "load", "interrupt_after": 0.5, "timeout": 10,
            "processes": [{"argv": [sys.executable, "-c", OVERSTAYS], "out": str(out)}]}  # fmt: skip
    answer = run_agent(tmp_path, spec)
    assert answer["interrupted"] == [True] and answer["exit_codes"] == [0]
    assert answer["seconds"] < 5
    assert out.read_text().strip() == '{"summary": 1}'


def test_a_tool_that_ignores_sigint_is_killed_at_the_timeout(tmp_path):
    spec = {"name": "load", "interrupt_after": 0.3, "timeout": 1.5,
            "processes": [{"argv": [sys.executable, "-c", IGNORES], "out": str(tmp_path / "b.out")},
                          {"argv": ["true"], "out": str(tmp_path / "c.out")}]}  # fmt: skip
    answer = run_agent(tmp_path, spec)
    assert answer["interrupted"] == [True, False]
    assert answer["exit_codes"][0] == -9 and answer["exit_codes"][1] == 0
    assert 1.4 < answer["seconds"] < 5
