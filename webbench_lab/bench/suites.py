"""Benchmark suites as data (suites/<name>.yml), checked field by field.

Schema (every field required unless marked optional):
  name: str (the file's stem)        title: str               lab: str (A or B)
  load_tool: siege | wrk | k6        concurrency: int > 0     duration: int > 0 (seconds)
  warmup: int >= 0 (seconds)         levels: [int > 0, ...]
  systems: [system name, ...]        scenarios: [{name: str, endpoint: str starting with /}, ...]
  each scenario may set its own, where the suite's settings cannot measure it on this lab:
         concurrency: int > 0, duration: int > 0 (seconds), timeout: int > 0 (seconds a request
         may take before it counts as failed; default DEFAULT_TIMEOUT_S, 60) and why: str, what
         differs from the published lab and why (required with any of the three; the report
         prints it beside the figures)
  min_repeats: optional int > 0 (default 3): repeats of every case, interleaved (round 1 runs
         every case once, round 2 again, ...)
  max_repeats: optional int >= min_repeats (default 6): after min_repeats, a case gets another
         repeat (one more round) while the 95% confidence interval of its mean rate is wider than
  target_ci_pct: optional number > 0 (default 5.0): ± this percent of the mean
  repeats: optional int > 0, the older spelling (results directories keep old suite.yml copies):
         exactly this many repeats (min_repeats = max_repeats = repeats, as `--repeats N`); not
         with min_repeats or max_repeats
  load_attempts: optional int > 0 (default 3): how often a case is measured when its load tool
         hangs and has to be killed; the figure is the first attempt that completed
  calibrate: optional bool (default false): before each case, the server runs fixed calibration
         loads timed in CPU time (appctl calibrate: a CPU loop, a memory copy, loopback TCP), so
         the machine's speed at each case's time is recorded beside its figures (about a second)
  quick: optional mapping overriding duration, warmup, levels, systems, concurrency, min_repeats,
         max_repeats (min_repeats alone: both), calibrate and endpoints ({scenario name: endpoint}) for
         `--quick` runs; its duration and concurrency also cap a scenario's own (a quick run stays
         quick), its timeout stays
  published: optional mapping {scenario: {system: figures}} of the published results
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from webbench_lab.apps import systems as systems_mod
from webbench_lab.bench.loadtools import TOOLS
from webbench_lab.bench.loadtools.base import DEFAULT_TIMEOUT_S
from webbench_lab.errors import UserError
from webbench_lab.paths import REPO
from webbench_lab.yamlfile import display, load_mapping

SUITES = REPO / "suites"
DEFAULT_SUITE = "web_bench_2011"
DEFAULT_LOAD_ATTEMPTS = 3
DEFAULT_MIN_REPEATS = 3
DEFAULT_MAX_REPEATS = 6
DEFAULT_TARGET_CI_PCT = 5.0


@dataclass(frozen=True)
class Scenario:
    """One endpoint of a suite; `None` settings are the suite's (timeout: DEFAULT_TIMEOUT_S)."""

    name: str
    endpoint: str
    concurrency: int | None = None
    duration: int | None = None
    timeout: int | None = None
    why: str = ""

    @property
    def overridden(self) -> bool:
        return (self.concurrency, self.duration, self.timeout) != (None, None, None)


_SCENARIO_SETTINGS = ("concurrency", "duration", "timeout")
_SCENARIO_KEYS = ("name", "endpoint", *_SCENARIO_SETTINGS, "why")


def _capped(own: int | None, cap: int | None) -> int | None:
    return own if own is None or cap is None else min(own, cap)


@dataclass(frozen=True)
class Suite:
    name: str
    title: str
    lab: str
    load_tool: str
    concurrency: int
    duration: int
    warmup: int
    levels: list[int]
    systems: list[str]
    scenarios: list[Scenario]
    min_repeats: int = DEFAULT_MIN_REPEATS
    max_repeats: int = DEFAULT_MAX_REPEATS
    target_ci_pct: float = DEFAULT_TARGET_CI_PCT
    load_attempts: int = DEFAULT_LOAD_ATTEMPTS
    calibrate: bool = False
    quick: dict[str, Any] = field(default_factory=dict)
    published: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    def quick_version(self) -> Suite:
        """The suite with its `quick:` overrides (short durations, a subset), for CI."""
        q = self.quick
        endpoints = q.get("endpoints", {})
        return dataclasses.replace(
            self,
            duration=q.get("duration", self.duration),
            warmup=q.get("warmup", self.warmup),
            levels=q.get("levels", self.levels),
            systems=q.get("systems", self.systems),
            concurrency=q.get("concurrency", self.concurrency),
            min_repeats=q.get("min_repeats", self.min_repeats),
            max_repeats=q.get("max_repeats", q.get("min_repeats", self.max_repeats)),
            calibrate=q.get("calibrate", self.calibrate),
            scenarios=[
                dataclasses.replace(
                    s,
                    endpoint=endpoints.get(s.name, s.endpoint),
                    duration=_capped(s.duration, q.get("duration")),
                    concurrency=_capped(s.concurrency, q.get("concurrency")),
                )
                for s in self.scenarios
            ],
        )

    def settings(self, scenario: Scenario) -> tuple[int, int, int]:
        """A scenario's concurrency, duration and request timeout: its own, else the suite's."""
        return (
            scenario.concurrency or self.concurrency,
            scenario.duration or self.duration,
            scenario.timeout or DEFAULT_TIMEOUT_S,
        )


_FIELDS: dict[str, tuple[type, bool]] = {
    "name": (str, True),
    "title": (str, True),
    "lab": (str, True),
    "load_tool": (str, True),
    "concurrency": (int, True),
    "duration": (int, True),
    "warmup": (int, True),
    "min_repeats": (int, False),
    "max_repeats": (int, False),
    "target_ci_pct": (float, False),
    "repeats": (int, False),
    "levels": (list, True),
    "systems": (list, True),
    "scenarios": (list, True),
    "load_attempts": (int, False),
    "calibrate": (bool, False),
    "quick": (dict, False),
    "published": (dict, False),
}


def resolve(name_or_path: str) -> Path:
    path = Path(name_or_path)
    if path.suffix in (".yml", ".yaml") or "/" in name_or_path:
        return path
    return SUITES / f"{name_or_path}.yml"


def load_suite(name_or_path: str, name: str | None = None) -> Suite:
    """The suite, checked; `name`: the name its `name` field must give when the file is not named
    after it (a results directory's copy, suite.yml)."""
    path = resolve(name_or_path)
    where = display(path)
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in SUITES.glob("*.yml")))
        raise UserError(f"{where}: no such suite; known suites: {known}")
    data = load_mapping(path, "expected a mapping of suite fields")

    def fail(fname: str, expected: str, value: Any = None) -> UserError:
        got = f", got {type(value).__name__} {value!r}" if value is not None else ""
        return UserError(f"{where}: field '{fname}' must be {expected}{got}")

    for key in data:
        if key not in _FIELDS:
            return_known = ", ".join(_FIELDS)
            raise UserError(f"{where}: unknown field '{key}'; known fields: {return_known}")
    for key, (typ, required) in _FIELDS.items():
        if key not in data:
            if required:
                raise UserError(f"{where}: field '{key}' is missing ({typ.__name__})")
            continue
        value = data[key]
        if typ is float and isinstance(value, int) and not isinstance(value, bool):
            data[key] = value = float(value)  # a percent may be written 5
        if not isinstance(value, typ) or (typ is int and isinstance(value, bool)):
            raise fail(key, "a number" if typ is float else f"a {typ.__name__}", value)
    if data["name"] != (name or path.stem):
        raise fail("name", f"the file's name '{name or path.stem}'", data["name"])
    if data["load_tool"] not in TOOLS:
        raise fail("load_tool", f"one of {', '.join(TOOLS)}", data["load_tool"])
    for key in ("concurrency", "duration", "repeats", "min_repeats", "max_repeats", "load_attempts"):
        if data.get(key, 1) < 1:
            raise fail(key, "a positive int", data[key])
    _repeats(data, fail)
    quick_calibrate = data.get("quick", {}).get("calibrate", False)
    if not isinstance(quick_calibrate, bool):
        raise fail("quick.calibrate", "true or false", quick_calibrate)
    if data["warmup"] < 0:
        raise fail("warmup", "an int >= 0", data["warmup"])
    if not data["levels"] or not all(isinstance(x, int) and x > 0 for x in data["levels"]):
        raise fail("levels", "a non-empty list of positive ints", data["levels"])
    known_systems = systems_mod.all_systems()
    for system in data["systems"]:
        if system not in known_systems:
            raise fail("systems", f"a list of known systems ({', '.join(known_systems)})", system)
    scenarios = []
    for item in data["scenarios"]:
        if (
            not isinstance(item, dict)
            or not isinstance(item.get("name"), str)
            or not isinstance(item.get("endpoint"), str)
            or not item["endpoint"].startswith("/")
        ):
            raise fail("scenarios", "a list of {name: str, endpoint: str starting with /}", item)
        scenarios.append(_scenario(item, fail))
    if not scenarios:
        raise fail("scenarios", "a non-empty list")
    return Suite(
        **{k: v for k, v in data.items() if k != "scenarios"},
        scenarios=scenarios,
        path=path,
    )


def _repeats(data: dict[str, Any], fail) -> None:
    """min_repeats <= max_repeats, target_ci_pct > 0; the older `repeats: N` becomes min = max = N."""
    if "repeats" in data:
        both = [k for k in ("min_repeats", "max_repeats") if k in data]
        if both:
            raise fail("repeats", f"left out with {both[0]} (repeats: N is min_repeats = max_repeats = N)")
        n = data.pop("repeats")
        data["min_repeats"] = data["max_repeats"] = n
    if data.get("target_ci_pct", 1.0) <= 0:
        raise fail("target_ci_pct", "a positive number (percent of the mean)", data["target_ci_pct"])
    low = data.get("min_repeats", DEFAULT_MIN_REPEATS)
    high = data.setdefault("max_repeats", max(DEFAULT_MAX_REPEATS, low))
    if high < low:
        raise fail("max_repeats", f"an int >= min_repeats ({low})", high)
    quick = data.get("quick", {})
    q_low = quick.get("min_repeats", low)
    q_high = quick.get("max_repeats", q_low if "min_repeats" in quick else high)
    for key, value in (("min_repeats", q_low), ("max_repeats", q_high)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise fail(f"quick.{key}", "a positive int", value)
    if q_high < q_low:
        raise fail("quick.max_repeats", f"an int >= quick.min_repeats ({q_low})", q_high)


def _scenario(item: dict[str, Any], fail) -> Scenario:
    """A scenario's own settings, each checked (`why` is required with any of them)."""
    where = f"scenarios.{item['name']}"
    for key in item:
        if key not in _SCENARIO_KEYS:
            raise fail(f"{where}.{key}", f"left out (unknown); known keys: {', '.join(_SCENARIO_KEYS)}")
    own: dict[str, int] = {}
    for key in _SCENARIO_SETTINGS:
        if key in item:
            value = item[key]
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise fail(f"{where}.{key}", "a positive int (seconds for duration and timeout)", value)
            own[key] = value
    why = item.get("why")
    if "why" in item and (not isinstance(why, str) or not why.strip()):
        raise fail(f"{where}.why", "a non-empty str: what differs from the published lab and why", why)
    if own and not why:
        raise fail(
            f"{where}.why", f"given with {', '.join(own)}: say what differs from the published lab and why"
        )
    if why and not own:
        raise fail(f"{where}.why", "given only with concurrency, duration or timeout", why)
    return Scenario(item["name"], item["endpoint"], why=why or "", **own)
