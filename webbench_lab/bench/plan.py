"""What a run will do: the suite as narrowed by the command line, and its cases (no hosts)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from webbench_lab.bench import loadtools
from webbench_lab.bench.loadtools.base import DEFAULT_TIMEOUT_S
from webbench_lab.bench.record import CaseRecord
from webbench_lab.bench.stats import needs_more, summarize
from webbench_lab.bench.suites import Suite
from webbench_lab.errors import UserError

CASE_OVERHEAD_S = 6.0  # start, verify, stop and fetching logs, per case, for --dry-run's estimate
CALIBRATION_S = 1.5  # the server's calibration before a case (suite's `calibrate`), a quarter core's


@dataclass(frozen=True)
class Case:
    """One measurement. plan() gives it its scenario's effective concurrency, duration (seconds)
    and request timeout (seconds); a case built by hand (tests) leaves the first two None: the
    suite's (`settings`)."""

    system: str
    level: int
    scenario: str
    endpoint: str
    repeat: int
    concurrency: int | None = None
    duration: int | None = None
    timeout: int = DEFAULT_TIMEOUT_S

    @property
    def key(self) -> str:
        return f"{self.group}-r{self.repeat}"

    @property
    def group(self) -> str:
        """The case whatever its repeat (`<system>-L<level>-<scenario>`): what is aggregated."""
        slug = "".join(c if c.isalnum() else "-" for c in self.scenario.lower()).strip("-")
        return f"{self.system}-L{self.level}-{slug}"


@dataclass
class Options:
    only: list[str] = field(default_factory=list)
    levels: list[int] | None = None
    duration: int | None = None
    repeats: int | None = None
    load_tool: str | None = None
    quick: bool = False
    calibrate: bool | None = None  # None: the suite's (or its quick section's) `calibrate`


def effective_suite(suite: Suite, opts: Options) -> Suite:
    """The suite as this run will do it (quick overrides, then the command-line narrowing)."""
    if opts.quick:
        suite = suite.quick_version()
    changes: dict[str, Any] = {}
    if opts.only:
        unknown = [s for s in opts.only if s not in suite.systems]
        if unknown:
            raise UserError(
                f"--only {unknown[0]}: not a system of suite {suite.name} ({', '.join(suite.systems)})"
            )
        changes["systems"] = [s for s in suite.systems if s in opts.only]
    if opts.levels:
        changes["levels"] = opts.levels
    if opts.duration:  # for every scenario, its own duration too
        changes["duration"] = opts.duration
        changes["scenarios"] = [dataclasses.replace(s, duration=None) for s in suite.scenarios]
    if opts.repeats:  # a fixed count: no adaptive repeats
        changes["min_repeats"] = changes["max_repeats"] = opts.repeats
    if opts.load_tool:
        if opts.load_tool not in loadtools.TOOLS:
            raise UserError(f"--load-tool {opts.load_tool}: choose one of {', '.join(loadtools.TOOLS)}")
        changes["load_tool"] = opts.load_tool
    if opts.calibrate is not None:
        changes["calibrate"] = opts.calibrate
    return dataclasses.replace(suite, **changes)


def run_settings(suite: Suite, opts: Options) -> dict[str, Any]:
    """The effective settings of a run, as the manifest keeps them (and `--resume` checks them)."""
    return {
        "load_tool": suite.load_tool, "concurrency": suite.concurrency, "duration_s": suite.duration,
        "warmup_s": suite.warmup, "min_repeats": suite.min_repeats,
        "max_repeats": suite.max_repeats, "target_ci_pct": suite.target_ci_pct, "levels": suite.levels,
        "systems": suite.systems, "scenarios": [[s.name, s.endpoint] for s in suite.scenarios],
        "load_attempts": suite.load_attempts, "quick": opts.quick, "calibrate": suite.calibrate,
        "scenario_settings": {
            s.name: dict(zip(("concurrency", "duration_s", "timeout_s"), suite.settings(s), strict=True))
            | ({"why": s.why} if s.why else {})
            for s in suite.scenarios
        },
    }  # fmt: skip


def first_round(suite: Suite) -> list[Case]:
    """Every case of the suite once (repeat 1), in the order each round runs them."""
    return [
        Case(system, level, sc.name, sc.endpoint, 1, *suite.settings(sc))
        for system in suite.systems
        for level in suite.levels
        for sc in suite.scenarios
    ]


def plan(suite: Suite) -> list[Case]:
    """The planned cases (the manifest's `planned_cases`): the min_repeats rounds, interleaved
    (every case once, then every case again, ...) so that a slow drift of the machine spreads over
    every system instead of landing on one. `next_round` decides the rounds after them."""
    return [
        dataclasses.replace(case, repeat=repeat)
        for repeat in range(1, suite.min_repeats + 1)
        for case in first_round(suite)
    ]


def next_round(suite: Suite, records: Iterable[CaseRecord]) -> list[Case]:
    """The cases of the next adaptive round, given the records so far: each case (system, level,
    scenario) that ran at least min_repeats times, every repeat ok, fewer than max_repeats times,
    and whose mean rate's 95% interval is unknown or wider than ± target_ci_pct (stats.needs_more)
    gets one more repeat. A case with a failed repeat gets none: a failure is not noise."""
    by_group: dict[tuple[str, int, str], list[CaseRecord]] = {}
    for r in records:
        by_group.setdefault((r.system, r.level, r.scenario), []).append(r)
    more = []
    for case in first_round(suite):
        mine = by_group.get((case.system, case.level, case.scenario), [])
        if not mine or not all(r.ok and r.rate is not None for r in mine):
            continue
        stat = summarize(r.rate for r in mine if r.rate is not None)
        if needs_more(stat, len(mine), suite.min_repeats, suite.max_repeats, suite.target_ci_pct):
            more.append(dataclasses.replace(case, repeat=max(r.repeat for r in mine) + 1))
    return more


def settings(suite: Suite, case: Case) -> tuple[int, int, int]:
    """A case's concurrency, duration and request timeout (the suite's where it has none)."""
    return case.concurrency or suite.concurrency, case.duration or suite.duration, case.timeout


def expected_seconds(suite: Suite, cases: list[Case]) -> float:
    per_case = CASE_OVERHEAD_S + (CALIBRATION_S if suite.calibrate else 0.0)
    return sum(suite.warmup + settings(suite, c)[1] + per_case for c in cases)
