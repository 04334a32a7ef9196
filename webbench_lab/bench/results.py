"""A run's results directory: results/<UTC timestamp>-<suite>/, new every run, never overwritten.

Every file is written atomically, and summary.csv/summary.json are rewritten after each case, so a
crash or Ctrl-C leaves every finished case intact.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import time
from pathlib import Path
from typing import Any

from webbench_lab.bench.record import CaseRecord
from webbench_lab.fsutil import new_dir, write_atomic
from webbench_lab.paths import REPO

SUMMARY_FIELDS = [
    "case", "system", "level", "scenario", "endpoint", "repeat", "status", "reason", "load_tool",
    "concurrency", "duration_s", "rate", "requests", "failures", "availability", "p50_ms", "p90_ms",
    "p99_ms", "mean_ms", "generator_cpu_pct", "generator_bound", "server_cpu_pct",
    "server_app_cpu_pct", "server_rss_mb", "samples_missing", "attempt", "retried",
]  # fmt: skip


class ResultsDir:
    def __init__(self, root: Path, suite_name: str) -> None:
        path = new_dir(root, suite_name)
        self.path = path
        self.records: dict[str, CaseRecord] = {}
        self.manifest: dict[str, Any] = {}

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

    def write_case(self, record: CaseRecord) -> None:
        """case.json of the record's case, then summary.json and summary.csv with every case so far:
        the only place a case record is written."""
        self.write_json(self.case_dir_of(record.case) / "case.json", record.to_json())
        self.records[record.case] = record
        self.write_summary()

    def write_summary(self) -> None:
        rows = [r.to_json() for r in self.records.values()]
        self.write_json(self.path / "summary.json", rows)
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=SUMMARY_FIELDS, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: row.get(k, "") for k in SUMMARY_FIELDS})
        self.write_text(self.path / "summary.csv", buf.getvalue())

    def start_manifest(self, **fields: Any) -> None:
        self.manifest = {"complete": False, "started": _iso(), **fields}
        self.write_json(self.path / "manifest.json", self.manifest)

    def finish_manifest(self, complete: bool, **fields: Any) -> None:
        self.manifest.update(complete=complete, ended=_iso(), **fields)
        self.write_json(self.path / "manifest.json", self.manifest)

    def copy_suite(self, suite_path: Path) -> None:
        shutil.copyfile(suite_path, self.path / "suite.yml")


def read_summary(path: Path) -> list[CaseRecord]:
    """The records of a results directory, as summary.json holds them."""
    where = path / "summary.json"
    return [CaseRecord.from_json(row, str(where)) for row in json.loads(where.read_text())]


def default_root() -> Path:
    return REPO / "results"


def _iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
