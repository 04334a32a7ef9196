"""A run's results directory: results/<UTC timestamp>-<suite>/, new every run, never overwritten.

Every file is written atomically, and summary.csv/summary.json are rewritten after each case, so a
crash or Ctrl-C leaves every finished case intact. Their rows: one per repeat (`"row": "repeat"`,
a case.json's fields) and, after all of them, one per case over its repeats (`"row": "aggregate"`,
`record.Aggregate`: each figure's mean, 95% interval, RSD and n). The manifest's `planned_cases`
are the min_repeats rounds; the adaptive rounds after them are added to `extra_cases` before they
run, so a resume finds them. `ResultsDir.resume` opens the directory of a run
that did not finish (`bench --resume`): its finished cases (a case.json each) are read and never
written again, what an unfinished case left is moved aside, and the manifest gains a `resumes` entry.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from webbench_lab.bench.record import AGGREGATED, Aggregate, CaseRecord, aggregate
from webbench_lab.errors import UserError
from webbench_lab.fsutil import new_dir, write_atomic
from webbench_lab.paths import REPO
from webbench_lab.yamlfile import display, load_json

SUMMARY_FIELDS = [
    "row", "case", "system", "level", "scenario", "endpoint", "repeat", "status", "reason",
    "load_tool", "concurrency", "duration_s", "rate", "requests", "failures", "availability",
    "p50_ms", "p90_ms", "p99_ms", "mean_ms", "generator_cpu_pct", "generator_bound",
    "server_cpu_pct", "server_app_cpu_pct", "server_rss_mb", "server_cpu_us_per_req",
    "server_app_cpu_us_per_req", "server_others_cpu_pct", "generator_others_cpu_pct", "server_keeper_cpu_pct",
    "samples_missing", "attempt", "retried", "cpus_asked",
    "server_cpus", "oversubscribed", "repeats", "n", "failed",
    *(f"{key}_{part}" for key in AGGREGATED for part in ("ci95", "ci95_pct", "rsd_pct", "n")),
]  # fmt: skip


# What a run's end adds to the manifest is moved into the resume's `previous_end`, and these files
# into before-resume-<n>/: the resume writes its own.
END_FILES = ("audit.json", "audit.md", "report.md", "report.html")
NOT_FAILED = ("ok", "not buildable")  # the statuses that do not make a run exit 1
# What a resume keeps of the manifest besides its identity: the ceilings are the run's, not the end's.
KEPT_ON_RESUME = ("complete", "started", "resumes", "extra_cases", "generator_ceiling")


class ResultsDir:
    def __init__(self, root: Path, suite_name: str) -> None:
        self._open(new_dir(root, suite_name))

    def _open(self, path: Path) -> None:
        self.path = path
        self.records: dict[str, CaseRecord] = {}
        self.manifest: dict[str, Any] = {}
        self.kept: list[str] = []  # cases finished before this resume: never written again
        self.written: list[str] = []  # cases this run (or resume) wrote
        self.resume_entry: dict[str, Any] | None = None
        self.resumed = False
        self.after_case: Callable[[], None] | None = None  # called when a case.json is written

    @classmethod
    def resume(cls, path: Path) -> ResultsDir:
        """An existing results directory, only read (nothing is written until `start_manifest`):
        its manifest, and the record of each planned case that has a case.json, in planned order."""
        path = Path(path)
        where = display(path)
        if not path.is_dir():
            raise UserError(f"{where}: no such results directory")
        for name in ("manifest.json", "suite.yml"):
            if not (path / name).is_file():
                raise UserError(
                    f"{where}: not a results directory (no {name}); give one `webbench-lab bench` made"
                )
        self = cls.__new__(cls)
        self._open(path)
        self.resumed = True
        self.manifest = read_manifest(path / "manifest.json")
        for key in self.all_cases:
            file = path / "cases" / key / "case.json"
            if file.is_file():
                self.records[key] = read_case(file, key)
        self.kept = list(self.records)
        return self

    @property
    def all_cases(self) -> list[str]:
        """The planned cases, then the extra (adaptive) ones decided so far."""
        return [*self.manifest.get("planned_cases", []), *self.manifest.get("extra_cases", [])]

    def add_extra_cases(self, keys: list[str]) -> None:
        """An adaptive round's cases, in the manifest before they run."""
        self.manifest.setdefault("extra_cases", []).extend(keys)
        if self.resume_entry is not None:
            self.resume_entry["cases_to_run"] += len(keys)
        self.write_json(self.path / "manifest.json", self.manifest)

    @property
    def failed_before(self) -> int:
        """Cases kept from before this resume that failed (they still make the run exit 1)."""
        return sum(1 for k in self.kept if self.records[k].status not in NOT_FAILED)

    def case_dir(self, case) -> Path:
        return self.case_dir_of(case.key)

    def write_text(self, path: Path, text: str) -> None:
        write_atomic(path, text)

    def write_json(self, path: Path, data: Any) -> None:
        write_atomic(path, json.dumps(data, indent=2, sort_keys=False) + "\n")

    def case_dir_of(self, key: str) -> Path:
        d = self.path / "cases" / key
        d.mkdir(parents=True, exist_ok=True)
        return d

    def new_subdir(self, *parts: str) -> Path:
        """A directory that is new in this run (a resume that measures again gets `<name>-2`)."""
        d = _unused(self.path.joinpath(*parts))
        d.mkdir(parents=True)
        return d

    def write_case(self, record: CaseRecord) -> None:
        """case.json of the record's case, then summary.json and summary.csv with every case so far:
        the only place a case record is written."""
        if record.case in self.kept:
            raise ValueError(f"{record.case}: finished before this resume; its files stay as they are")
        self.write_json(self.case_dir_of(record.case) / "case.json", record.to_json())
        self.records[record.case] = record
        self.written.append(record.case)
        self.write_summary()
        if self.after_case is not None:
            self.after_case()

    def aggregates(self) -> list[Aggregate]:
        return aggregate(list(self.records.values()))

    def write_summary(self) -> None:
        rows = [{"row": "repeat", **r.to_json()} for r in self.records.values()]
        rows += [a.to_json() for a in self.aggregates()]
        self.write_json(self.path / "summary.json", rows)
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=SUMMARY_FIELDS, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: row.get(k, "") for k in SUMMARY_FIELDS})
        self.write_text(self.path / "summary.csv", buf.getvalue())

    def start_manifest(self, **fields: Any) -> None:
        if self.resumed:
            self._start_resume(fields)
            return
        self.manifest = {"complete": False, "started": _iso(), **fields}
        self.write_json(self.path / "manifest.json", self.manifest)

    def finish_manifest(self, complete: bool, **fields: Any) -> None:
        """`complete` only when every planned case (extra ones too) has its case.json."""
        planned = self.all_cases
        complete = complete and all((self.path / "cases" / k / "case.json").is_file() for k in planned)
        if self.resume_entry is not None:
            self.resume_entry.update(ended=_iso(), cases_run=list(self.written), complete=complete)
        self.manifest.update(complete=complete, ended=_iso(), **fields)
        self.write_json(self.path / "manifest.json", self.manifest)

    def _start_resume(self, fields: dict[str, Any]) -> None:
        """A resume starts: the run's identity (suite, settings, inventory; the planned cases that
        have no case.json) must be the recorded one; what the last end wrote and what unfinished
        cases left is moved aside; a `resumes` entry records it (`started` stays the first start)."""
        for key in IDENTITY:
            if key in fields and key != "planned_cases":
                self.check_identity(key, fields[key])
        if "planned_cases" in fields:  # the session plans the cases left to run
            left = [k for k in self.all_cases if k not in self.kept]
            diff = _difference(_as_json(fields["planned_cases"]), left, "the cases left to run")
            if diff:
                raise UserError(f"{display(self.path / 'manifest.json')}: {diff}; start a new run")
        resumes = self.manifest.setdefault("resumes", [])
        number = len(resumes) + 1
        moved = self._move_aside(number)
        previous_end = {
            k: self.manifest.pop(k)
            for k in list(self.manifest)
            if k not in fields and k not in KEPT_ON_RESUME
        }
        if previous_end.get("audit") in moved:
            previous_end["audit"] = moved[previous_end["audit"]]
        self.resume_entry = {
            "started": _iso(),
            "ended": None,
            "complete": False,
            "cases_kept": len(self.kept),
            "cases_to_run": len(self.all_cases) - len(self.kept),
            "cases_run": [],
            **{k: v for k, v in fields.items() if k not in IDENTITY},  # lab_commit, ...
            "moved_aside": moved,
            "previous_end": previous_end,
            "leftovers": {},  # what the dead run left on the hosts (filled by whoever finds it)
        }
        resumes.append(self.resume_entry)
        self.write_json(self.path / "manifest.json", self.manifest)

    def check_identity(self, key: str, value: Any) -> None:
        """A resume's `key` (suite, settings, planned_cases, inventory) must be the recorded one."""
        if key not in self.manifest:
            return
        diff = _difference(_as_json(value), self.manifest[key], key)
        if diff:
            where = display(self.path / "manifest.json")
            raise UserError(f"{where}: {diff}; resume with what the run used, or start a new run")

    def _move_aside(self, number: int) -> dict[str, str]:
        """What the resume would otherwise overwrite, moved (never deleted), as {from: to}: the
        files of each unfinished case (raw outputs of an attempt, logs) into
        cases/<case>/interrupted-<n>/, and the last end's audit and report into before-resume-<n>/."""
        moved: dict[str, str] = {}
        for key in self.all_cases:
            case_dir = self.path / "cases" / key
            if key in self.kept or not case_dir.is_dir():
                continue
            left = sorted(p for p in case_dir.iterdir() if not p.name.startswith("interrupted-"))
            if left:
                moved[f"cases/{key}"] = self._move(left, _unused(case_dir / f"interrupted-{number}"))
        ends = [self.path / name for name in END_FILES if (self.path / name).exists()]
        if ends:
            dest = self._move(ends, _unused(self.path / f"before-resume-{number}"))
            moved.update({p.name: f"{dest}/{p.name}" for p in ends})
        return moved

    def _move(self, paths: list[Path], dest: Path) -> str:
        dest.mkdir(parents=True)
        for p in paths:
            p.rename(dest / p.name)
        return str(dest.relative_to(self.path))

    def copy_suite(self, suite_path: Path) -> None:
        shutil.copyfile(suite_path, self.path / "suite.yml")


IDENTITY = ("suite", "settings", "planned_cases", "inventory")  # a resume must match these


def read_manifest(path: Path) -> dict[str, Any]:
    """A results directory's manifest.json, with the fields a resume needs checked."""
    where = display(path)
    data = load_json(path, "not a manifest webbench-lab wrote")
    if not isinstance(data, dict):
        raise UserError(f"{where}: expected a JSON object; not a manifest webbench-lab wrote")
    for key, typ in (("suite", str), ("settings", dict), ("planned_cases", list), ("resumes", list)):
        if key == "resumes" and key not in data:
            continue
        if not isinstance(data.get(key), typ):
            raise UserError(f"{where}: field '{key}' missing or not a {typ.__name__}")
    if not isinstance(data.get("extra_cases", []), list):
        raise UserError(f"{where}: field 'extra_cases' not a list")
    for field in ("planned_cases", "extra_cases"):
        for key in data.get(field, []):
            if not isinstance(key, str) or not key or "/" in key or key in (".", ".."):
                raise UserError(f"{where}: field '{field}' holds {key!r}, not a case name")
    return data


def read_case(path: Path, key: str | None = None) -> CaseRecord:
    """One case.json; a file that is not a case record (of this schema, of case `key`) is one line."""
    where = display(path)
    data = load_json(path, "not a case record")
    try:
        record = CaseRecord.from_json(data, where)
    except (TypeError, AttributeError) as exc:
        raise UserError(f"{where}: not a case record ({exc})") from None
    if key is not None and record.case != key:
        raise UserError(f"{where}: field 'case' is {record.case!r}, expected {key!r}")
    return record


def read_summary(path: Path) -> list[CaseRecord]:
    """The records of a results directory, as summary.json holds them (its repeat rows; a row
    without `row` is a repeat: summary.json before aggregates)."""
    where = path / "summary.json"
    return [
        CaseRecord.from_json(row, str(where))
        for row in json.loads(where.read_text())
        if row.get("row", "repeat") == "repeat"
    ]


def default_root() -> Path:
    return REPO / "results"


def _as_json(value: Any) -> Any:
    """The value as the manifest holds it once written (tuples become lists)."""
    return json.loads(json.dumps(value))


def _difference(given: Any, recorded: Any, where: str) -> str:
    """'' when equal, else the first difference, named by its dotted field."""
    if isinstance(given, dict) and isinstance(recorded, dict):
        for k in [*recorded, *(k for k in given if k not in recorded)]:
            diff = _difference(given.get(k), recorded.get(k), f"{where}.{k}")
            if diff:
                return diff
        return ""
    if given == recorded:
        return ""
    return f"{where} is {given!r} now but {recorded!r} in the run"


def _unused(path: Path) -> Path:
    """`path`, or path-2, path-3 ... when it exists."""
    candidate, n = path, 1
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.name}-{n}")
    return candidate


def _iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
