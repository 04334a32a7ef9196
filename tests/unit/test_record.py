"""The case record: one typed record, flat JSON with a schema version, read back as it was written."""

from __future__ import annotations

import dataclasses
import json

import pytest

from webbench_lab.bench.loadtools import LoadResult
from webbench_lab.bench.record import SCHEMA_VERSION, AttemptRecord, CaseRecord, Figures, Resources
from webbench_lab.bench.results import ResultsDir, read_summary
from webbench_lab.errors import UserError


def _attempt(n: int, outcome: str) -> AttemptRecord:
    start, end = "2026-01-01T00:00:00Z", "2026-01-01T00:00:05Z"
    load, raw = {"g-siege-0": "exited"}, [f"g-siege-0.attempt-{n}.out"]
    return AttemptRecord(n, start, end, outcome, "", load, None, raw, [], 30.0, 90.0)


def measured() -> CaseRecord:
    samples = {
        "server": [{"host_cpu_pct": 90.0, "proc_cpu_pct": 80.0, "rss_kb": 2048}] * 3,
        "generator:g": [{"host_cpu_pct": 95.0}, {"host_cpu_pct": 91.0}],
    }
    return CaseRecord(
        "go-http-L1-hello-r1", "go-http", 1, "hello", "/Hello/100", 1, status="ok", load_tool="siege",
        duration_s=20, warmup_s=3, concurrency=200, attempt=2, retried=True,
        attempts=[_attempt(1, "hung"), _attempt(2, "completed")],
        figures=Figures.from_result(LoadResult("siege", 1000, 50.123456, 2, 20.0, 99.8, mean_ms=4.56789)),
        resources=Resources.from_samples(samples),
    )  # fmt: skip


def test_the_json_is_flat_and_reads_back_as_the_same_record():
    record = measured()
    data = record.to_json()
    assert data["schema"] == SCHEMA_VERSION and data["rate"] == 50.12 and data["mean_ms"] == 4.568
    assert data["generator_cpu_pct"] == 93.0 and data["generator_bound"] is True
    assert data["server_rss_mb"] == 2.0 and data["samples"] == {"server": 3, "generator:g": 2}
    assert [a["outcome"] for a in data["attempts"]] == ["hung", "completed"]
    assert CaseRecord.from_json(json.loads(json.dumps(data))) == record


def test_a_case_without_figures_has_no_figure_fields():
    failed = CaseRecord("x-L1-hello-r1", "x", 1, "hello", "/", 1, status="not buildable", reason="why")
    data = failed.to_json()
    assert "rate" not in data and "generator_bound" not in data and data["reason"] == "why"
    back = CaseRecord.from_json(data)
    assert back == failed and back.rate is None and back.generator_bound is None


def test_no_generator_sample_means_unknown_not_false():
    resources = Resources.from_samples({"server": [{"host_cpu_pct": 1.0, "proc_cpu_pct": 1.0, "rss_kb": 1}]})
    assert resources.generator_cpu_pct is None and resources.generator_bound is None
    busy = Resources.from_samples({"generator:g": [{"host_cpu_pct": 89.9}]})
    assert busy.generator_bound is False and busy.server_rss_mb is None


def test_another_schema_is_refused_with_one_line():
    data = measured().to_json()
    data["schema"] = 99
    with pytest.raises(
        UserError, match=r"summary.json: case record schema 99; this webbench-lab reads schema 1"
    ):
        CaseRecord.from_json(data, "summary.json")
    del data["schema"]
    with pytest.raises(UserError, match="schema None"):
        CaseRecord.from_json(data)


def test_results_write_every_case_and_the_summary_reads_back(tmp_path):
    results = ResultsDir(tmp_path, "s")
    first, second = (
        measured(),
        CaseRecord("y-L1-hello-r1", "y", 1, "hello", "/", 1, status="failed", reason="r"),
    )
    results.write_case(first)
    results.write_case(second)
    assert json.loads((results.path / "cases" / first.case / "case.json").read_text()) == first.to_json()
    assert read_summary(results.path) == [first, second]
    header = (results.path / "summary.csv").read_text().splitlines()[0].split(",")
    assert header[:4] == ["row", "case", "system", "level"] and "retried" in header
    assert "rate_ci95_pct" in header and "server_cpu_us_per_req" in header and "oversubscribed" in header


def test_the_manifest_versions_come_from_the_runs_audit():
    """No second collection: the manifest summarises what the audit found on each host."""
    from webbench_lab.bench.session import versions

    audit = {
        "hosts": {
            "lab-generator": {"groups": ["generator"], "tools": {
                "siege_version": "SIEGE 4.0.7", "siege_config": "json output: true",
                "wrk_version": "wrk 4.1.0",
                "k6_version": "k6 v1.8.1"}},
            "lab-server": {"groups": ["server"], "go": {"version": "go version go1.26.11 linux/amd64"},
                           "tools": {"nginx_V": "nginx version: nginx/1.22.1\nbuilt with OpenSSL"},
                           "packages": {"redis-server": "5:7.0.15-1~deb12u1"},
                           "python": {"freeze": ["tornado==6.5"]}, "system": {"kernel": "6.1.0"}},
        }
    }  # fmt: skip
    found = versions(audit)
    assert found["generator"] == {"siege": "SIEGE 4.0.7", "siege_config": "json output: true",
                                  "wrk": "wrk 4.1.0", "k6": "k6 v1.8.1"}  # fmt: skip
    assert found["server"]["nginx"] == "nginx version: nginx/1.22.1"
    assert found["server"]["redis"] == "5:7.0.15-1~deb12u1" and found["server"]["kernel"] == "6.1.0"
    assert versions({"hosts": {}})["server"]["go"] is None  # unknown, not made up


def test_a_host_with_too_few_samples_makes_the_bound_flag_unknown():
    busy = [{"host_cpu_pct": 99.0}]
    server = [{"host_cpu_pct": 50.0, "proc_cpu_pct": 40.0, "rss_kb": 1024}]
    hosts = ["server", "generator:g"]
    full = Resources.from_samples({"server": server * 20, "generator:g": busy * 18}, 20, hosts)
    assert full.samples_missing is False and full.generator_bound is True  # 18 = 20 - 2 is enough
    short = Resources.from_samples({"server": server * 20, "generator:g": busy * 17}, 20, hosts)
    assert short.samples_missing is True and short.generator_bound is None
    absent = Resources.from_samples({"server": server * 20}, 20, hosts)  # its sampler gave nothing
    assert absent.samples_missing is True and absent.generator_bound is None


def test_tables_show_an_unknown_bound_as_a_question_mark():
    from webbench_lab.bench import report
    from webbench_lab.bench.suites import load_suite

    row = measured()
    assert row.resources is not None
    row.resources = dataclasses.replace(row.resources, generator_bound=None, samples_missing=True)
    row.retried = False
    (_, _, body), *_ = report.tables(load_suite("web_bench_2011"), [row])
    assert body[0][1] == "50.1 ±? ?"  # one repeat: its interval is unknown too
    assert "? generator-bound unknown" in report.FOOTNOTE


def test_a_hosts_own_load_counts_not_the_cpus_total_and_older_samples_still_read():
    """On a local lab other tenants fill the CPU time the lab leaves idle (own_cpu_pct excludes them)."""
    crowded = [{"host_cpu_pct": 94.0, "own_cpu_pct": 12.0, "proc_cpu_pct": 11.0, "rss_kb": 1, "cpus": 1}]
    server = [{"host_cpu_pct": 90.0, "own_cpu_pct": 25.0, "proc_cpu_pct": 23.0, "rss_kb": 1, "cpus": 1}]
    res = Resources.from_samples(
        {"server": server * 20, "generator:g": crowded * 20}, 20, ["server", "generator:g"]
    )
    assert res.generator_cpu_pct == 12.0 and res.generator_bound is False
    assert res.server_cpu_pct == 25.0 and res.server_cpu_s == 5.0 and res.server_app_cpu_s == 4.6
    old = Resources.from_samples({"generator:g": [{"host_cpu_pct": 94.0}]})
    assert old.generator_cpu_pct == 94.0 and old.generator_bound is True


def test_other_tenants_share_is_recorded_per_host_and_summed_up_in_one_report_line():
    from webbench_lab.bench.report import tenants_line

    crowded = [{"host_cpu_pct": 94.0, "own_cpu_pct": 12.0, "proc_cpu_pct": 11.0, "rss_kb": 1, "cpus": 1}]
    server = [{"host_cpu_pct": 90.0, "own_cpu_pct": 25.0, "proc_cpu_pct": 23.0, "rss_kb": 1, "cpus": 1}]
    res = Resources.from_samples(
        {"server": server * 20, "generator:g": crowded * 20}, 20, ["server", "generator:g"]
    )
    assert (res.server_others_cpu_pct, res.generator_others_cpu_pct) == (65.0, 82.0)
    busy, quiet = measured(), measured()
    busy.resources, quiet.case = res, "tornado-L1-hello-r1"
    quiet.resources = Resources.from_samples({"server": [{**server[0], "host_cpu_pct": 30.0}] * 20})
    line = tenants_line([busy, quiet])
    assert line is not None
    assert "on average 35% of the server's CPUs and 82% of the generator's" in line
    assert f"most: 65% of the server's, in {busy.case}" in line
    old = Resources.from_samples({"server": [{"host_cpu_pct": 50.0, "proc_cpu_pct": 1.0, "rss_kb": 1}]})
    assert old.server_others_cpu_pct is None
    quiet.resources = old
    busy.resources = old
    assert tenants_line([busy, quiet]) is None


def test_a_hosts_own_load_never_exceeds_its_cpus_total():
    """Without IRQ time accounting an interrupt counts in the process it interrupted and in the
    CPU's interrupt time: the sum (own_cpu_pct) can pass the CPUs' total; the total bounds it."""
    saturated = [{"host_cpu_pct": 99.0, "own_cpu_pct": 124.0, "proc_cpu_pct": 98.0, "rss_kb": 1, "cpus": 1}]
    res = Resources.from_samples({"generator:g": saturated * 20}, 20, ["generator:g"])
    assert res.generator_cpu_pct == 99.0 and res.generator_bound is True
    assert res.generator_others_cpu_pct == 0.0
