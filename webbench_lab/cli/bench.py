"""`webbench-lab bench`: plan a suite (--dry-run prints it), run it into a new results directory, or
resume a run that did not finish (--resume DIR) in its own directory."""

from __future__ import annotations

import argparse

from rich.table import Table

from webbench_lab.bench import ceilingcache, report, resume
from webbench_lab.bench.plan import Options, effective_suite, expected_seconds, plan
from webbench_lab.bench.suites import DEFAULT_SUITE, load_suite
from webbench_lab.cli.options import INVENTORY, resolve_inventory
from webbench_lab.errors import UserError
from webbench_lab.ui import console, out

RESUME_HELP = (
    "continue the run in DIR (interrupted, or its driver died) in DIR: cases with a case.json are "
    "kept as they are, the others run, what they left is moved aside; the run is rebuilt from "
    "DIR/suite.yml and the manifest's settings, so other --suite/--only/--levels/--duration/"
    "--repeats/--load-tool/--quick are refused, as is a complete run, a directory without "
    "manifest.json or suite.yml, a suite.yml that no longer loads, settings or planned cases it no "
    "longer gives, and another inventory (exit 2)"
)


def register(sub) -> None:
    bench = sub.add_parser(
        "bench", help="run a benchmark suite and keep everything in results/", parents=[INVENTORY]
    )
    bench.add_argument("--suite", help=f"suite name (suites/NAME.yml) or path (default {DEFAULT_SUITE})")
    bench.add_argument("--only", action="append", default=[], help="only these systems (repeat or a,b)")
    bench.add_argument("--levels", help="levels to run, e.g. 1,2")
    bench.add_argument(
        "--duration", type=int, help="seconds of measurement per case, for every scenario (its own too)"
    )
    bench.add_argument(
        "--repeats",
        type=int,
        help="exactly N repeats per case (default: the suite's min_repeats to max_repeats)",
    )
    bench.add_argument("--load-tool", help="siege, wrk or k6 instead of the suite's tool")
    bench.add_argument("--quick", action="store_true", help="the suite's quick settings (CI)")
    bench.add_argument(
        "--calibrate",
        action=argparse.BooleanOptionalAction,
        help="before each case, time fixed calibration loads on the server (the machine's speed at "
        "that time, recorded beside the figures; about a second a case); default: the suite's "
        "`calibrate`",
    )
    bench.add_argument("--dry-run", action="store_true", help="print the plan and its duration")
    bench.add_argument("--results", help="results root (default: results/)")
    bench.add_argument(
        "--keep-services",
        action="store_true",
        help="leave Redis and the upstream API running when the run ends (by default a run stops "
        "the services it started)",
    )
    bench.add_argument(
        "--ceiling-max-age",
        type=int,
        default=ceilingcache.DEFAULT_MAX_AGE_S,
        metavar="SECONDS",
        help="reuse a generator ceiling an earlier run measured on the same lab, tool and settings "
        f"while younger than this (default {ceilingcache.DEFAULT_MAX_AGE_S}); 0 measures every one",
    )
    bench.add_argument("--resume", metavar="DIR", help=RESUME_HELP)
    bench.set_defaults(handler=run)


def parse_levels(text: str | None) -> list[int] | None:
    if not text:
        return None
    try:
        levels = [int(x) for x in text.split(",")]
    except ValueError:
        levels = []
    if not levels or any(x < 1 for x in levels):
        raise UserError(f"--levels {text!r}: give positive integers separated by commas, e.g. 1,2,4")
    return levels


def run(args: argparse.Namespace) -> int:
    _max_age(args.ceiling_max_age)  # refused before anything else, a dry run too
    if args.resume:
        return _resume(args)
    suite = load_suite(args.suite or DEFAULT_SUITE)
    opts = Options(
        only=_only(args),
        levels=parse_levels(args.levels),
        duration=_positive(args.duration, "--duration"),
        repeats=_positive(args.repeats, "--repeats"),
        load_tool=args.load_tool,
        quick=args.quick,
        calibrate=args.calibrate,
    )
    run_suite = effective_suite(suite, opts)
    cases = plan(run_suite)
    if args.dry_run:
        _print_plan(run_suite, cases)
        return 0
    sources = resolve_inventory(args.inventory)
    from webbench_lab.bench.session import execute

    return execute(
        sources, suite, run_suite, opts, cases, args.results, keep_services=args.keep_services,
        ceiling_max_age_s=_max_age(args.ceiling_max_age),
    )  # fmt: skip


def _resume(args: argparse.Namespace) -> int:
    run_ = resume.open_run(args.resume)
    resume.refuse_other_options(
        run_, suite=args.suite, only=_only(args), levels=parse_levels(args.levels),
        duration=_positive(args.duration, "--duration"), repeats=_positive(args.repeats, "--repeats"),
        load_tool=args.load_tool, quick=args.quick, results_root=args.results, calibrate=args.calibrate,
    )  # fmt: skip
    remaining = run_.remaining
    if args.dry_run:
        out.print(run_.line())
        _print_plan(run_.run_suite, remaining)
        return 0
    sources = resolve_inventory(args.inventory)
    from webbench_lab.bench.session import execute, recorded_inventory

    run_.results.check_identity("inventory", recorded_inventory(sources))
    console.print(run_.line(), markup=False)
    return execute(
        sources, run_.suite, run_.run_suite, run_.opts, remaining, None,
        resumed=run_.results, keep_services=args.keep_services,
        ceiling_max_age_s=_max_age(args.ceiling_max_age),
    )  # fmt: skip


def _max_age(seconds: int) -> int:
    if seconds < 0:
        raise UserError(f"--ceiling-max-age {seconds}: give 0 (measure every ceiling) or more seconds")
    return seconds


def _only(args: argparse.Namespace) -> list[str]:
    return [s for item in args.only for s in item.split(",") if s]


def _positive(value: int | None, flag: str) -> int | None:
    if value is not None and value < 1:
        raise UserError(f"{flag} {value}: give a positive number")
    return value


def _print_plan(suite, cases) -> None:
    table = Table("#", "case", "system", "level", "scenario", "endpoint", title=f"plan: {suite.name}")
    for i, c in enumerate(cases, 1):
        table.add_row(str(i), c.key, c.system, str(c.level), c.scenario, c.endpoint)
    out.print(table)
    seconds = expected_seconds(suite, cases)
    out.print(
        f"{len(cases)} cases with {suite.load_tool}, {suite.concurrency} concurrent, "
        f"{suite.duration} s each after {suite.warmup} s warm-up: about {seconds / 60:.1f} minutes"
    )
    if suite.min_repeats < suite.max_repeats:
        out.print(
            f"{suite.min_repeats} to {suite.max_repeats} repeats per case: these are the first "
            f"{suite.min_repeats} rounds; a case gets another round while the 95% interval of its mean "
            f"rate is wider than ±{suite.target_ci_pct:g}% (up to {suite.max_repeats / suite.min_repeats:g}x "
            "as long)",
            markup=False,
        )
    for line in report.differs(suite):
        out.print(line, markup=False)
