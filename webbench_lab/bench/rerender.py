"""`webbench-lab report RESULTS_DIR`: report.md and report.html again, from the directory's files
alone (no host), so that an old run gets the current report.

The suite is the run's own copy (suite.yml) as the manifest's settings narrowed it (quick,
systems, levels, durations, repeats, each scenario's own settings), so the report says what the
run did, not what the suite says today. Only report.md and report.html are written; a run's
other files are never touched.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from webbench_lab.bench import htmlreport, report
from webbench_lab.bench.loadtools.base import DEFAULT_TIMEOUT_S
from webbench_lab.bench.results import ResultsDir
from webbench_lab.bench.suites import Scenario, Suite, load_suite
from webbench_lab.errors import UserError
from webbench_lab.fsutil import write_atomic
from webbench_lab.yamlfile import display

OUTPUTS = ("report.md", "report.html")


def run_suite(path: Path, manifest: dict[str, Any]) -> Suite:
    """The suite as the run did it: its suite.yml with the recorded settings."""
    where = display(path / "manifest.json")
    try:
        suite = load_suite(str(path / "suite.yml"), name=manifest["suite"])
    except UserError as exc:
        raise UserError(f"{exc} (the run's copy of its suite: fix it to render the report)") from None
    s = manifest["settings"]
    if s.get("quick"):
        suite = suite.quick_version()
    try:
        changes: dict[str, Any] = {
            "load_tool": s.get("load_tool", suite.load_tool),
            "concurrency": s.get("concurrency", suite.concurrency),
            "duration": s.get("duration_s", suite.duration),
            "warmup": s.get("warmup_s", suite.warmup),
            "levels": list(s.get("levels", suite.levels)),
            "systems": list(s.get("systems", suite.systems)),
            "min_repeats": s.get("min_repeats", s.get("repeats", suite.min_repeats)),
            "max_repeats": s.get("max_repeats", s.get("repeats", suite.max_repeats)),
        }
        base = dataclasses.replace(suite, **changes)
        own = s.get("scenario_settings") or {}
        changes["scenarios"] = [_scenario(base, sc, own.get(sc.name)) for sc in suite.scenarios]
    except (TypeError, AttributeError, ValueError) as exc:
        raise UserError(f"{where}: field 'settings' is not what webbench-lab records ({exc})") from None
    unknown = [x for x in changes["systems"] if x not in suite.systems]
    if unknown:
        raise UserError(f"{where}: settings.systems names {unknown[0]!r}, not a system of its suite.yml")
    return dataclasses.replace(suite, **changes)


def _scenario(run: Suite, sc: Scenario, recorded: dict[str, Any] | None) -> Scenario:
    """The scenario with the settings it ran with: its own where they gave them, the run's where
    an option replaced its own (`--duration`), and the recorded ones otherwise."""
    if not recorded:
        return sc
    now = run.settings(sc)
    fields = ("concurrency", "duration", "timeout")
    runs = (run.concurrency, run.duration, DEFAULT_TIMEOUT_S)
    changes: dict[str, Any] = {}
    for name, key, had, run_value in zip(
        fields, ("concurrency", "duration_s", "timeout_s"), now, runs, strict=True
    ):
        value = recorded.get(key, had)
        if value != had:
            changes[name] = None if value == run_value else value
    return dataclasses.replace(sc, why=recorded.get("why", sc.why), **changes)


def render(path: str | Path) -> dict[str, str]:
    """{file name: text} of both reports of the results directory at `path`."""
    results = ResultsDir.resume(Path(path))  # reads only: nothing is written until start_manifest
    suite = run_suite(results.path, results.manifest)
    records = list(results.records.values())
    return {
        "report.md": report.markdown(suite, records, results.manifest),
        "report.html": htmlreport.page(results.path, suite, records, results.manifest),
    }


def write(path: str | Path) -> list[Path]:
    """Both reports rendered, then written (each atomically); anything but a file of that name in
    their place is refused before either is written."""
    path = Path(path)
    texts = render(path)
    targets = [path / name for name in OUTPUTS]
    for target in targets:
        if target.is_symlink() or (target.exists() and not target.is_file()):
            raise UserError(
                f"{display(target)}: exists and is not a report; move it away, `report` writes only "
                "report.md and report.html there"
            )
    for target in targets:
        try:
            write_atomic(target, texts[target.name])
        except OSError as exc:
            raise UserError(
                f"{display(target)}: cannot write: {exc.strerror}; make the directory writable"
            ) from None
    return targets
