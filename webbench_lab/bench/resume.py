"""`bench --resume DIR`: what is left of a run that was interrupted or whose driver died.

The run is rebuilt from what DIR kept, never from today's suites/: the copy of the suite
(DIR/suite.yml) narrowed by the options the manifest recorded (`settings`). A resume is refused
with one line, nothing written to DIR, when DIR is not a results directory (no manifest.json or
suite.yml, a manifest that is not UTF-8 JSON with `suite`, `settings` and `planned_cases`), when
its run is complete, when the kept suite.yml no longer loads, when the settings it gives today
differ from the recorded ones, when the cases they plan differ from `planned_cases`, when a
finished case's case.json cannot be read, or when a command-line option says something else than
the recorded settings (`refuse_other_options`). The inventory must be the run's too
(`ResultsDir.check_identity`, before anything runs).

The adaptive repeats are not kept as state: the cases left are the planned ones and the extra
ones (`extra_cases`) without a case.json, and after them the runner decides the next rounds from
every finished case.json (plan.next_round), as the run would have. A manifest from before adaptive
repeats (`settings.repeats` N) reads as min_repeats = max_repeats = N, which is what it ran.
"""

from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from webbench_lab.bench.plan import Case, Options, effective_suite, next_round, plan, run_settings
from webbench_lab.bench.results import ResultsDir
from webbench_lab.bench.suites import DEFAULT_TARGET_CI_PCT, Suite, load_suite, resolve
from webbench_lab.errors import UserError
from webbench_lab.yamlfile import display

# The recorded settings the options are rebuilt from, and their types.
_SETTINGS: dict[str, type] = {
    "load_tool": str, "duration_s": int, "min_repeats": int, "max_repeats": int, "levels": list,
    "systems": list, "quick": bool,
}  # fmt: skip


@dataclass
class Resumable:
    """A run to resume: its directory (opened, nothing written yet), the kept suite, the options
    rebuilt from the manifest, the suite as the run does it and every planned case."""

    results: ResultsDir
    suite: Suite
    opts: Options
    run_suite: Suite
    planned: list[Case]

    @property
    def remaining(self) -> list[Case]:
        """The planned and extra cases without a case.json (the runner's next rounds follow)."""
        return [c for c in self.cases if c.key not in self.results.records]

    @property
    def cases(self) -> list[Case]:
        """The planned cases, then the extra (adaptive) ones the run decided (`extra_cases`)."""
        by_group = {c.group: c for c in self.planned}
        extra = []
        for key in self.results.manifest.get("extra_cases", []):
            group, _, repeat = key.rpartition("-r")
            extra.append(dataclasses.replace(by_group[group], repeat=int(repeat)))
        return [*self.planned, *extra]

    def line(self) -> str:
        done, total = len(self.results.records), len(self.cases)
        adaptive = self.run_suite.min_repeats < self.run_suite.max_repeats
        more = " (then more repeats where a figure is not stable yet)" if adaptive else ""
        return f"resuming {self.results.path}: {done} of {total} cases finished, {total - done} to run{more}"


def open_run(directory: str) -> Resumable:
    """The run in `directory`, checked; a UserError (one line, exit 2) when it cannot be resumed."""
    path = Path(directory)
    results = ResultsDir.resume(path)
    manifest = results.manifest
    where = display(path / "manifest.json")
    if manifest.get("complete") is True:
        raise _complete(path, results)
    suite = _kept_suite(path, manifest["suite"])
    settings: dict[str, Any] = _upgraded(manifest["settings"])
    manifest["settings"] = settings
    opts = _options(settings, where)
    # A run without --duration kept each scenario's own duration (Lab B's CPU-bound 60 s): the
    # recorded duration is then the suite's, not an option that replaced every scenario's.
    without = dataclasses.replace(opts, duration=None)
    with contextlib.suppress(UserError):
        if run_settings(effective_suite(suite, without), without) == settings:
            opts = without
    try:
        run_suite = effective_suite(suite, opts)
    except UserError as exc:
        raise UserError(f"{where}: field 'settings' no longer fits the kept suite.yml ({exc})") from None
    derived = run_settings(run_suite, opts)
    for key in [*settings, *(k for k in derived if k not in settings)]:
        now = derived.get(key)
        if now != settings.get(key):
            raise UserError(
                f"{where}: settings.{key} is {settings.get(key)!r} but the kept suite.yml gives "
                f"{now!r} today; this run cannot be resumed, start a new one"
            )
    planned = plan(run_suite)
    keys, recorded = [c.key for c in planned], manifest["planned_cases"]
    if keys != recorded:
        first = next((i for i, (a, b) in enumerate(zip(keys, recorded, strict=False)) if a != b), None)
        detail = (
            f"case {first + 1} is {recorded[first]!r} but the settings give {keys[first]!r}"
            if first is not None
            else f"{len(recorded)} cases recorded, the settings give {len(keys)}"
        )
        raise UserError(f"{where}: field 'planned_cases' differs: {detail}; this run cannot be resumed")
    groups = {c.group for c in planned}
    for key in manifest.get("extra_cases", []):
        group, _, repeat = key.rpartition("-r")
        if group not in groups or not repeat.isdigit():
            raise UserError(f"{where}: field 'extra_cases' holds {key!r}, not a case of this run")
    run = Resumable(results, suite, opts, run_suite, planned)
    if not run.remaining and not next_round(run_suite, list(results.records.values())):
        raise _complete(path, results)
    return run


def _complete(path: Path, results: ResultsDir) -> UserError:
    planned = len(results.manifest["planned_cases"])
    return UserError(
        f"{display(path)}: the run is complete (every one of its {planned} planned cases has its "
        "case.json): nothing to resume"
    )


def _upgraded(settings: dict[str, Any]) -> dict[str, Any]:
    """Settings of a manifest from before adaptive repeats (`repeats` N): min = max = N; from
    before calibration: none."""
    settings = {**settings, "calibrate": settings.get("calibrate", False)}
    if "repeats" not in settings or "min_repeats" in settings:
        return settings
    out: dict[str, Any] = {}
    for key, value in settings.items():
        if key == "repeats":
            out.update(min_repeats=value, max_repeats=value, target_ci_pct=DEFAULT_TARGET_CI_PCT)
        else:
            out[key] = value
    return out


def refuse_other_options(
    run: Resumable,
    suite: str | None = None,
    only: list[str] | None = None,
    levels: list[int] | None = None,
    duration: int | None = None,
    repeats: int | None = None,
    load_tool: str | None = None,
    quick: bool = False,
    results_root: str | None = None,
    calibrate: bool | None = None,
) -> None:
    """Options given with --resume must say what the run recorded: a UserError names the first that
    does not (a resumed run is the recorded one, it cannot be changed on the way)."""
    manifest, settings = run.results.manifest, run.results.manifest["settings"]
    where = f"{display(run.results.path / 'manifest.json')}"
    hint = "resume without it, or start a new run"
    if suite is not None and resolve(suite).stem != manifest["suite"]:
        raise UserError(f"--suite {suite}: the run is of suite {manifest['suite']} ({where}); {hint}")
    checks: list[tuple[str, Any, Any, str]] = [
        ("--only", sorted(set(only)) if only else None, sorted(settings["systems"]), "systems"),
        ("--levels", levels, settings["levels"], "levels"),
        ("--duration", duration, settings["duration_s"], "duration_s"),
        ("--repeats", repeats, _fixed(settings), "min_repeats and max_repeats"),
        ("--load-tool", load_tool, settings["load_tool"], "load_tool"),
        ("--quick", True if quick else None, settings["quick"], "quick"),
        ("--calibrate" if calibrate else "--no-calibrate", calibrate, settings["calibrate"], "calibrate"),
    ]
    for flag, given, recorded, field in checks:
        if given is not None and given != recorded:
            shown = "" if flag in ("--quick", "--calibrate", "--no-calibrate") else f" {_text(given)}"
            raise UserError(
                f"{flag}{shown}: the run recorded settings.{field} {recorded!r} ({where}); {hint}"
            )
    if results_root is not None:
        raise UserError(
            f"--results {results_root}: a resumed run stays in {display(run.results.path)}; {hint}"
        )


def _fixed(settings: dict[str, Any]) -> int | list[int]:
    """The recorded repeats as --repeats says them: N when fixed, else [min, max]."""
    low, high = settings["min_repeats"], settings["max_repeats"]
    return low if low == high else [low, high]


def _kept_suite(path: Path, name: str) -> Suite:
    try:
        return load_suite(str(path / "suite.yml"), name=name)
    except UserError as exc:
        raise UserError(f"{exc} (the run's copy no longer loads: it cannot be resumed)") from None


def _options(settings: dict[str, Any], where: str) -> Options:
    """The command-line options that give the recorded settings (each one set explicitly)."""
    for key, typ in _SETTINGS.items():
        value = settings.get(key)
        if not isinstance(value, typ) or (typ is int and isinstance(value, bool)):
            raise UserError(
                f"{where}: settings.{key} missing or not a {typ.__name__}; not a manifest to resume"
            )
    return Options(
        only=list(settings["systems"]),
        levels=list(settings["levels"]),
        duration=settings["duration_s"],
        # A fixed count is --repeats; adaptive repeats are the kept suite's own.
        repeats=settings["min_repeats"] if settings["min_repeats"] == settings["max_repeats"] else None,
        load_tool=settings["load_tool"],
        quick=settings["quick"],
        calibrate=settings["calibrate"] is True,
    )


def _text(value: Any) -> str:
    return ",".join(map(str, value)) if isinstance(value, list) else str(value)
