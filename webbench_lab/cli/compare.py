"""`webbench-lab compare RUN_A RUN_B`: did B get slower than A, case by case? Exit 1 when it did,
so CI can catch a regression of a stack or of the lab."""

from __future__ import annotations

import argparse
import sys

from webbench_lab.cli.options import json_option
from webbench_lab.ui import console

DESCRIPTION = (
    "For every case (system, level, scenario) present in both runs: the mean rate of its ok "
    "repeats in each, the ratio B/A with its 95% confidence interval (Fieller), Welch's t-test "
    "p-value and a verdict: slower or faster (a change beyond the threshold with p < 0.05), no "
    "significant change, or cannot tell (fewer than 2 ok repeats on a side: too few repeats). "
    "Flags mark a generator-bound case and missing samples. Prints markdown (or JSON with --json) "
    "and writes compare.md, compare.json and compare.html (a forest plot of the ratios) in RUN_B; a "
    "previous comparison's compare.md, compare.json and "
    "compare.json there are replaced, and nothing else is ever written or overwritten. "
    "Exit 0: no case slower; 1: a case slower beyond the threshold with p < 0.05; 2: bad input, or "
    "runs of another suite, load tool or concurrency (unless --force)."
)


def register(sub) -> None:
    cmp = sub.add_parser(
        "compare",
        help="compare two runs case by case; exit 1 when B is slower than A (a regression)",
        description=DESCRIPTION,
        parents=[json_option("print the comparison as JSON (compare.json) instead of markdown")],
    )
    cmp.add_argument("run_a", metavar="RUN_A", help="results directory of the reference run")
    cmp.add_argument(
        "run_b",
        metavar="RUN_B",
        help="results directory of the run judged; compare.md, compare.json and compare.html are written "
        "there, replacing only those of an earlier comparison",
    )
    cmp.add_argument(
        "--threshold",
        type=float,
        default=5.0,
        metavar="PCT",
        help="the smallest change (%%) that counts as slower or faster (default 5)",
    )
    cmp.add_argument(
        "--force",
        action="store_true",
        help="compare runs of another suite, load tool or concurrency anyway (refused with exit 2 "
        "otherwise); the differences are printed with the comparison",
    )
    cmp.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from webbench_lab.bench import compare  # scipy: imported when the command runs, not to parse

    comparison = compare.compare(args.run_a, args.run_b, args.threshold, force=args.force)
    replaced = compare.write_outputs(comparison)
    sys.stdout.write(comparison.json() if args.json else comparison.markdown())
    sys.stdout.flush()
    where = comparison.b.path
    note = " (replacing the earlier comparison's)" if replaced else ""
    console.print(f"compare.md, compare.json and compare.html written in {where}{note}", markup=False)
    for line in comparison.forced:
        console.print(f"not comparable, compared anyway (--force): {line}", markup=False)
    if comparison.slower:
        names = ", ".join(f"{c.system} L{c.level} {c.scenario} ({c.reason})" for c in comparison.slower)
        console.print(
            f"B is slower than A beyond {args.threshold:g}% (p < {compare.ALPHA:g}): {names}", markup=False
        )
    told = comparison.counts["cannot tell"]
    if told:
        console.print(
            f"{told} case(s) cannot be told (see the table): give each run at least "
            f"{compare.MIN_REPEATS} ok repeats (`bench --repeats 3`)",
            markup=False,
        )
    return comparison.exit_code
