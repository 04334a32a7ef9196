"""`webbench-lab report RESULTS_DIR [--open]`: render a run's report.md and report.html again from
its files (no host needed), so an old run gets the current report."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess

from webbench_lab.ui import console, out

HELP = "render a run's report.md and report.html again from its results directory"
DESCRIPTION = (
    "Render report.md and report.html of a results directory again, from its files alone (manifest, "
    "suite.yml, case.json files, samples, audit.json): no host is needed. Only those two files are "
    "written (each replaced atomically); nothing else in the directory is ever written or overwritten. "
    "Exit 2 on a directory that is not a run's or a file that cannot be read."
)


def register(sub) -> None:
    cmd = sub.add_parser("report", help=HELP, description=DESCRIPTION)
    cmd.add_argument("results", metavar="RESULTS_DIR", help="a results directory `webbench-lab bench` made")
    cmd.add_argument(
        "--open",
        action="store_true",
        help="print report.html's file:// address, and open it in a browser where a desktop exists",
    )
    cmd.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from webbench_lab.bench import rerender  # matplotlib and scipy: when the command runs

    written = rerender.write(args.results)
    for path in written:
        console.print(f"written: {path}", markup=False)
    if args.open:
        url = written[-1].resolve().as_uri()
        out.print(url, markup=False)
        opener = shutil.which("xdg-open")
        if os.environ.get("DISPLAY") and opener:
            subprocess.Popen([opener, url], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return 0
