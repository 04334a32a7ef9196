"""What a run will do: the suite as narrowed by the command line, and its cases (no hosts)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from webbench_lab.bench import loadtools
from webbench_lab.bench.loadtools.base import DEFAULT_TIMEOUT_S
from webbench_lab.bench.suites import Suite
from webbench_lab.errors import UserError

CASE_OVERHEAD_S = 6.0  # start, verify, stop and fetching logs, per case, for --dry-run's estimate


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
        slug = "".join(c if c.isalnum() else "-" for c in self.scenario.lower()).strip("-")
        return f"{self.system}-L{self.level}-{slug}-r{self.repeat}"


@dataclass
class Options:
    only: list[str] = field(default_factory=list)
    levels: list[int] | None = None
    duration: int | None = None
    repeats: int | None = None
    load_tool: str | None = None
    quick: bool = False


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
    if opts.repeats:
        changes["repeats"] = opts.repeats
    if opts.load_tool:
        if opts.load_tool not in loadtools.TOOLS:
            raise UserError(f"--load-tool {opts.load_tool}: choose one of {', '.join(loadtools.TOOLS)}")
        changes["load_tool"] = opts.load_tool
    return dataclasses.replace(suite, **changes)


def run_settings(suite: Suite, opts: Options) -> dict[str, Any]:
    """The effective settings of a run, as the manifest keeps them (and `--resume` checks them)."""
    return {
        "load_tool": suite.load_tool, "concurrency": suite.concurrency, "duration_s": suite.duration,
        "warmup_s": suite.warmup, "repeats": suite.repeats, "levels": suite.levels,
        "systems": suite.systems, "scenarios": [[s.name, s.endpoint] for s in suite.scenarios],
        "load_attempts": suite.load_attempts, "quick": opts.quick,
        "scenario_settings": {
            s.name: dict(zip(("concurrency", "duration_s", "timeout_s"), suite.settings(s), strict=True))
            | ({"why": s.why} if s.why else {})
            for s in suite.scenarios
        },
    }  # fmt: skip


def plan(suite: Suite) -> list[Case]:
    return [
        Case(system, level, sc.name, sc.endpoint, repeat, *suite.settings(sc))
        for system in suite.systems
        for level in suite.levels
        for sc in suite.scenarios
        for repeat in range(1, suite.repeats + 1)
    ]


def settings(suite: Suite, case: Case) -> tuple[int, int, int]:
    """A case's concurrency, duration and request timeout (the suite's where it has none)."""
    return case.concurrency or suite.concurrency, case.duration or suite.duration, case.timeout


def expected_seconds(suite: Suite, cases: list[Case]) -> float:
    return sum(suite.warmup + settings(suite, c)[1] + CASE_OVERHEAD_S for c in cases)
