"""The generator's ceiling: what the suite's load tool, with the run's settings, can drive against a
server that costs almost nothing (the `ceiling` system: nginx serving the exact replies from files).

A case is only a measurement of its server when the generator had headroom. Its CPU alone does not
say so: siege, with a thread per connection, burns its core whatever the rate, and a tool can be
limited by its own design before its CPU is full. So a run measures the ceiling first, once per
concurrency its cases use, and a case whose rate reaches CEILING_SHARE of it is generator-bound.
A ceiling taken while no generator was busy (GENERATOR_BOUND_PCT, bench/generators.py) was limited
by the target, not the tool: it is kept, marked `generator_limited: false`, and used all the same
(the tool can do at least that much, so a case near it is close to what the lab can tell apart).
With several generators, it is generator-limited when any of them was busy, as a case is bound."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from webbench_lab.apps.models import NginxStatic
from webbench_lab.apps.systems import System
from webbench_lab.bench.plan import Case, settings
from webbench_lab.bench.record import Figures, Resources
from webbench_lab.bench.suites import Suite

SYSTEM = "ceiling"
CEILING_SHARE = 0.8  # a case at 80% of the ceiling or more is generator-bound


@dataclass(frozen=True)
class Target:
    """One ceiling to measure: a concurrency (and its request timeout) and the endpoint to load."""

    concurrency: int
    timeout: int
    endpoint: str

    @property
    def key(self) -> str:
        return f"c{self.concurrency}"

    def case(self) -> Case:
        """A case of the ceiling system (level 1) with these settings and the suite's duration."""
        return Case(SYSTEM, 1, f"ceiling {self.key}", self.endpoint, 1, self.concurrency, None, self.timeout)


def targets(suite: Suite, cases: list[Case], system: System) -> list[Target]:
    """One target per concurrency among `cases`: the endpoint of its first case when the ceiling
    system serves it, else the first one it serves among the suite's scenarios (fib(35) has no
    fixed reply; the reply's size hardly matters next to the connection's cost)."""
    served = [s.endpoint for s in suite.scenarios if _serves(system, s.endpoint)]
    found: dict[int, Target] = {}
    for case in cases:
        concurrency, _duration, timeout = settings(suite, case)
        if concurrency in found:
            continue
        endpoint = case.endpoint if _serves(system, case.endpoint) else (served or ["/ping"])[0]
        found[concurrency] = Target(concurrency, timeout, endpoint)
    return sorted(found.values(), key=lambda t: t.concurrency)


def _serves(system: System, path: str) -> bool:
    model = system.process_model
    return isinstance(model, NginxStatic) and model.serves(path)


def summary(
    target: Target, figures: Figures | None, resources: Resources, reason: str = ""
) -> dict[str, Any]:
    """The manifest's record of one ceiling. Generator-limited is the case's generator-bound rule
    (record.Resources: any generator busy, each judged on its own or with those sharing its CPUs),
    not the generators' average."""
    gen = resources.generator_cpu_pct
    return {
        "concurrency": target.concurrency,
        "endpoint": target.endpoint,
        "rate": None if figures is None else figures.rate,
        "requests": None if figures is None else figures.requests,
        "failures": None if figures is None else figures.failures,
        "generator_cpu_pct": gen,
        "server_cpu_pct": resources.server_cpu_pct,
        "generator_limited": resources.generator_bound,
        "generators": [dataclasses.asdict(g) for g in resources.generators or []],
        "samples": resources.samples,
        "reason": reason,
    }


def share(rate: float | None, ceiling: dict[str, Any] | None) -> float | None:
    """A case's rate as a share of its concurrency's ceiling; None when either is unknown."""
    top = (ceiling or {}).get("rate")
    if rate is None or not top:
        return None
    return round(rate / top, 3)
