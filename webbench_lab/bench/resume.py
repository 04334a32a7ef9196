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
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from webbench_lab.bench.plan import Case, Options, effective_suite, plan, run_settings
from webbench_lab.bench.results import ResultsDir
from webbench_lab.bench.suites import Suite, load_suite, resolve
from webbench_lab.errors import UserError
from webbench_lab.yamlfile import display

# The recorded settings the options are rebuilt from, and their types.
_SETTINGS: dict[str, type] = {
    "load_tool": str, "duration_s": int, "repeats": int, "levels": list, "systems": list, "quick": bool,
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
        return [c for c in self.planned if c.key not in self.results.records]

    def line(self) -> str:
        done, total = len(self.results.records), len(self.planned)
        return f"resuming {self.results.path}: {done} of {total} cases finished, {total - done} to run"


def open_run(directory: str) -> Resumable:
    """The run in `directory`, checked; a UserError (one line, exit 2) when it cannot be resumed."""
    path = Path(directory)
    results = ResultsDir.resume(path)
    manifest = results.manifest
    where = display(path / "manifest.json")
    if manifest.get("complete") is True or len(results.records) == len(manifest["planned_cases"]):
        raise UserError(
            f"{display(path)}: the run is complete (every one of its {len(manifest['planned_cases'])} "
            "planned cases has its case.json): nothing to resume"
        )
    suite = _kept_suite(path, manifest["suite"])
    settings: dict[str, Any] = manifest["settings"]
    opts = _options(settings, where)
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
    return Resumable(results, suite, opts, run_suite, planned)


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
        ("--repeats", repeats, settings["repeats"], "repeats"),
        ("--load-tool", load_tool, settings["load_tool"], "load_tool"),
        ("--quick", True if quick else None, settings["quick"], "quick"),
    ]
    for flag, given, recorded, field in checks:
        if given is not None and given != recorded:
            shown = "" if flag == "--quick" else f" {_text(given)}"
            raise UserError(
                f"{flag}{shown}: the run recorded settings.{field} {recorded!r} ({where}); {hint}"
            )
    if results_root is not None:
        raise UserError(
            f"--results {results_root}: a resumed run stays in {display(run.results.path)}; {hint}"
        )


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
        repeats=settings["repeats"],
        load_tool=settings["load_tool"],
        quick=settings["quick"],
    )


def _text(value: Any) -> str:
    return ",".join(map(str, value)) if isinstance(value, list) else str(value)
