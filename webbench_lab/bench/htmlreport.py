"""report.html: the run at a glance, beside the published lab, for a reader rather than a script.

The figures are report.py's (the cases over their repeats, `record.aggregate`, and the suite's
published figures); this module only draws them (bench/charts.py) and lays them out in one
self-contained page (templates/report/report.html.j2: charts embedded as SVG data URIs, no script,
nothing fetched). Every flag a figure carries is drawn on its chart, and listed in the page's
`data-marks`, because a reader looks at the bars, not the footnotes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from webbench_lab.agent.appctl import cpu_list
from webbench_lab.apps.systems import all_systems
from webbench_lab.bench import charts, report
from webbench_lab.bench.charts import Bar, Chart, Line
from webbench_lab.bench.record import Aggregate, CaseRecord, aggregate, host_load
from webbench_lab.bench.suites import Suite
from webbench_lab.errors import UserError
from webbench_lab.templating import render_html
from webbench_lab.yamlfile import display, load_json

# What the published labs ran on (shared/LAB.md), for the list of deviations; the figures
# themselves are the suites' `published`.
PUBLISHED_LAB: dict[str, dict[str, Any]] = {
    "A": {
        "year": 2011,
        "load_tool": "siege",
        "server_cores": 2,
        "link": "a direct Gigabit Ethernet link between two PCs",
        "versions": "Go release.2011-02-01.1, Python 2.6.6, web.py 0.34, tornado 0.2, gunicorn 0.10.0, "
        "gevent 0.13.0, nginx 0.7.67, siege",
    },
    "B": {
        "year": 2025,
        "load_tool": "k6",
        "server_cores": 4,
        "link": "none: k6 and the servers on one 4-core, 8 GB VM",
        "versions": "Go 1.21 + Gin, Python 3.11 + FastAPI 0.104 + uvicorn, k6",
    },
}
# Python packages worth naming in the header (the whole freeze is in audit.json).
STACK = ("tornado", "web-py", "gunicorn", "gevent", "cheroot", "flup", "fastapi", "uvicorn", "flask",
         "starlette", "redis", "aiohttp")  # fmt: skip


@dataclass
class Section:
    title: str
    charts: list[Chart]
    tables: list[tuple[str, list[str], list[list[str]]]]
    notes: list[str]


def flags(agg: Aggregate | None, complete: bool) -> list[str]:
    """What a reader must know before trusting a case's figure, in the words the charts print."""
    if agg is None:
        return [] if complete else ["not run"]
    if not agg.ok:
        return ["not buildable"] if agg.status == "not buildable" else ["failed"]
    out = []
    if agg.generator_bound:
        out.append("generator-bound")
    if agg.samples_missing or agg.generator_bound is None:
        out.append("samples missing")
    if agg.oversubscribed:
        out.append("oversubscribed")
    if agg.retried:
        out.append("retried")
    if agg.failed:
        out.append("repeats failed")
    return out


def _mean(agg: Aggregate | None, key: str) -> float | None:
    return agg.stats[key].mean if agg is not None and agg.ok else None


def _ci(agg: Aggregate | None, key: str) -> float | None:
    return agg.stats[key].ci95 if agg is not None and agg.ok else None


def _ratio(value: float | None, base: float | None) -> float | None:
    return value / base if value is not None and base else None


def lab_a(suite: Suite, cases: dict[tuple[str, int, str], Aggregate], complete: bool) -> list[Chart]:
    """Per level: ours beside the published rate, absolute and normalised to Go http; then scaling.
    A normalised whisker is our interval over Go http's mean (Go http's own spread left out: the
    ratio's full interval is compare's business)."""
    names = all_systems()
    scenario = suite.scenarios[0].name
    pub = suite.published.get(scenario, {})
    year = PUBLISHED_LAB["A"]["year"]
    out = []
    for level in suite.levels:
        absolute, normalised = [], []
        base = _mean(cases.get((report.BASELINE["A"], level, scenario)), "rate")
        pub_base = pub.get(report.BASELINE["A"], {}).get(level)
        for system in suite.systems:
            agg = cases.get((system, level, scenario))
            mean, published = _mean(agg, "rate"), pub.get(system, {}).get(level)
            label, marked = names[system].display, flags(agg, complete)
            absolute.append(Bar(label, mean, _ci(agg, "rate"), published, marked))
            ci = _ratio(_ci(agg, "rate"), base)
            normalised.append(Bar(label, _ratio(mean, base), ci, _ratio(published, pub_base), marked))
        title = f"Level {level} (GOMAXPROCS={level}, {level} Python process(es)): transactions/s"
        out.append(
            charts.levels_chart(f"lab-a-level-{level}", title, absolute, normalised, f"published ({year})")
        )
    lines = []
    for system in suite.systems:
        aggs = [cases.get((system, level, scenario)) for level in suite.levels]
        lines.append(
            Line(
                names[system].display,
                [_mean(a, "rate") for a in aggs],
                [_ci(a, "rate") for a in aggs],
                [pub.get(system, {}).get(level) for level in suite.levels],
                [flags(a, complete) for a in aggs],
            )
        )
    out.append(charts.scaling_chart("lab-a-scaling", "Scaling: rate against level", suite.levels, lines))
    return out


# Lab B's charts: (id, title, our figure, its key in the published figures, unit, log scale).
LAB_B_CHARTS = (
    ("qps", "QPS per scenario", "rate", "qps", "requests/s", True),
    ("p50", "P50 latency", "p50_ms", "p50_ms", "ms", True),
    ("p99", "P99 latency", "p99_ms", "p99_ms", "ms", True),
    ("memory", "Server memory (RSS, peak)", "server_rss_mb", "memory_mb", "MB", False),
)


def lab_b(suite: Suite, cases: dict[tuple[str, int, str], Aggregate], complete: bool) -> list[Chart]:
    names = all_systems()
    out = []
    for level in suite.levels:
        for chart_id, title, key, pub_key, unit, log in LAB_B_CHARTS:
            groups: dict[str, list[Bar]] = {}
            for sc in suite.scenarios:
                pub = suite.published.get(sc.name, {})
                groups[sc.name] = [
                    Bar(
                        names[system].display,
                        _mean(agg, key),
                        _ci(agg, key),
                        pub.get(system, {}).get(pub_key),
                        flags(agg, complete),
                    )
                    for system in suite.systems
                    for agg in [cases.get((system, level, sc.name))]
                ]
            full = f"{title}, level {level} ({unit}{', log scale' if log else ''})"
            out.append(charts.grouped_chart(f"lab-b-{chart_id}-level-{level}", full, groups, unit, log))
    return out


def run_state(manifest: dict[str, Any]) -> str:
    """complete, interrupted (Ctrl-C), stopped (an error) or running, and how often resumed."""
    if manifest.get("complete") is True:
        state = "complete"
    elif manifest.get("interrupted"):
        state = "interrupted"
    elif manifest.get("error"):
        state = f"stopped: {manifest['error']}"
    elif manifest.get("ended"):
        state = "incomplete"
    else:
        # The files cannot tell a live run from one whose driver died: say both, and the way on.
        state = (
            "not finished: running (this report is rewritten as cases finish), or its driver "
            "died (`webbench-lab bench --resume` continues it)"
        )
    resumes = len(manifest.get("resumes", []))
    return f"{state}, resumed {resumes} time(s)" if resumes else state


def _cpu_limit(seen: Any, server: bool, manifest: dict[str, Any]) -> str:
    """A host's CPU limit in cores: what its audit saw (system.cpu_limit), else for the server what
    the run recorded (manifest server_cpu_limit), else none."""
    cores = seen.get("cores") if isinstance(seen, dict) else None
    if cores is None and server:
        cores = manifest.get("server_cpu_limit")
    return "none" if not cores else f"{cores:g} core(s)"


def hosts(audit: dict[str, Any] | None, manifest: dict[str, Any]) -> list[dict[str, str]]:
    """Both hosts as the run's audit saw them (the inventory's CPUs when there is no audit)."""
    rows = []
    if audit is not None:
        for name, h in audit["hosts"].items():
            system, net = h.get("system") or {}, h.get("network") or {}
            server = "server" in h.get("groups", [])
            rows.append({
                "host": name, "role": ", ".join(h.get("groups", [])),
                "cpu": str(system.get("cpu_model", "?")), "cores": str(system.get("cores", "?")),
                "cpuset": str(system.get("cpuset", "?")),
                "cpu_limit": _cpu_limit(system.get("cpu_limit"), server, manifest),
                "kernel": str(system.get("kernel", "?")),
                "link": "; ".join(net.get("qdisc") or []) or str(net.get("speed_mbps", "?")),
            })  # fmt: skip
        return rows
    for name, h in (manifest.get("inventory") or {}).items():
        server = "server" in h.get("groups", [])
        rows.append({
            "host": name, "role": ", ".join(h.get("groups", [])), "cpu": "? (no audit)",
            "cores": "?", "cpuset": str(h.get("cpus", "?")),
            "cpu_limit": _cpu_limit(None, server, manifest), "kernel": "?", "link": "?",
        })  # fmt: skip
    return rows


def versions(manifest: dict[str, Any]) -> list[tuple[str, str]]:
    v = manifest.get("versions") or {}
    gen, srv = v.get("generator") or {}, v.get("server") or {}
    out = [(k, str(srv[k])) for k in ("go", "nginx", "redis", "kernel") if srv.get(k)]
    out += [(k, str(gen[k])) for k in ("siege", "wrk", "k6") if gen.get(k)]
    stack = [p for p in srv.get("python_stack") or [] if p.split("==")[0].lower() in STACK]
    if stack:
        out.append(("python stack", ", ".join(stack)))
    return out


def deviations(suite: Suite, manifest: dict[str, Any], host_rows: list[dict[str, str]]) -> list[str]:
    """How this run differs from the published lab: each line one difference a reader must weigh."""
    lab = PUBLISHED_LAB[suite.lab]
    out = [f"Versions: the published lab ran {lab['versions']}; this run: see the versions above."]
    server = next((h for h in host_rows if "server" in h["role"]), None)
    if server is None or server["cores"] == "?":
        out.append("Server cores and link: unknown (no audit of the hosts).")
    else:
        if server["cores"] != str(lab["server_cores"]):
            out.append(f"Server cores: {server['cores']} (cpuset {server['cpuset']}) here, "
                       f"{lab['server_cores']} in the published lab.")  # fmt: skip
        out.append(f"Link: {server['link']} here; the published lab: {lab['link']}.")
    if server is not None and server["cpu_limit"] != "none":
        out.append(f"Server CPU limit: {server['cpu_limit']} here; the published lab had none.")
    if suite.load_tool != lab["load_tool"]:
        out.append(f"Load tool: {suite.load_tool} here, {lab['load_tool']} in the published lab.")
    if (manifest.get("settings") or {}).get("quick"):
        out.append("A quick run (--quick): short cases and a subset of systems; it checks the lab, it "
                   "measures nothing.")  # fmt: skip
    out += report.differs(suite)
    return out


def timeseries(results_path: Path, records: list[CaseRecord], manifest: dict[str, Any]) -> list[Chart]:
    """Per case, its repeats' samples over time: generator CPU (each generator's series named by
    its host, where there are several), server CPU (with its limit, where the server had one) and
    server RSS."""
    roles = {
        name: "server" if "server" in h.get("groups", []) else "generator"
        for name, h in (manifest.get("inventory") or {}).items()
    }
    several = sum("generator" in h.get("groups", []) for h in (manifest.get("inventory") or {}).values()) > 1
    limit = manifest.get("server_cpu_limit")
    server_cpus = next((_cpu_count(h.get("cpus")) for name, h in (manifest.get("inventory") or {}).items()
                        if roles[name] == "server"), None)  # fmt: skip
    groups: dict[str, list[CaseRecord]] = {}
    for r in records:
        groups.setdefault(r.case.rpartition("-r")[0], []).append(r)
    out = []
    for case, rows in groups.items():
        panels: dict[str, charts.Series] = {"generator CPU %": [], "server CPU %": [], "server RSS MB": []}
        for r in rows:
            for host, samples in _samples(results_path / "cases" / r.case, r).items():
                if not samples:
                    continue
                t0 = samples[0]["t"]
                xs = [s["t"] - t0 for s in samples]
                label = f"r{r.repeat}"
                if roles.get(host) == "server":
                    panels["server CPU %"].append((label, xs, [host_load(s) for s in samples]))
                    panels["server RSS MB"].append((label, xs, [s["rss_kb"] / 1024 for s in samples]))
                else:
                    named = f"{label} {host}" if several else label
                    panels["generator CPU %"].append((named, xs, [host_load(s) for s in samples]))
        limits = {}
        cpus = rows[0].server_cpus or server_cpus
        if isinstance(limit, int | float) and cpus:
            limits["server CPU %"] = (100 * limit / cpus, f"limit {limit:g} core(s)")
        if any(panels.values()):
            out.append(charts.timeseries_chart(f"samples-{case}", case, panels, limits))
    return out


def _cpu_count(cpus: Any) -> int | None:
    """How many CPUs a cpuset list names ("1", "0-1,3"); None when it is not one."""
    try:
        return len(cpu_list(cpus)) or None
    except (AttributeError, ValueError):
        return None


def _samples(case_dir: Path, record: CaseRecord) -> dict[str, list[dict[str, Any]]]:
    """The samples of the attempt whose figures count, by host; lines that are not a sample with
    the fields drawn are left out (a sampler killed mid-line leaves half a line)."""
    attempt = next((a for a in record.attempts if a.attempt == record.attempt), None)
    out: dict[str, list[dict[str, Any]]] = {}
    for name in attempt.samples if attempt else []:
        path = case_dir / name
        host = name.removeprefix("samples-").split(".attempt-")[0]
        try:
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            continue
        rows = []
        for line in lines:
            try:
                s = json.loads(line)
            except ValueError:
                continue
            if isinstance(s, dict) and all(isinstance(s.get(k), int | float) for k in
                                           ("t", "host_cpu_pct", "rss_kb")):  # fmt: skip
                rows.append(s)
        out[host] = rows
    return out


def html(
    suite: Suite, records: list[CaseRecord], manifest: dict[str, Any], results_path: Path,
    audit: dict[str, Any] | None = None,
) -> str:  # fmt: skip
    """The page; `audit`: the run's audit.json (None: the inventory's CPUs instead)."""
    complete = manifest.get("complete") is True
    cases = {(a.system, a.level, a.scenario): a for a in aggregate(records)}
    lab_charts = lab_a(suite, cases, complete) if suite.lab == "A" else lab_b(suite, cases, complete)
    host_rows = hosts(audit, manifest)
    sections = [
        Section(f"Lab {suite.lab}: ours beside the published figures", lab_charts,
                report.tables(suite, records), report.differs(suite)),
        Section("Samples per case", timeseries(results_path, records, manifest), [],
                ["Once-a-second samples of the counted attempt of each repeat. siege and k6 print "
                 "totals only, so the load tool's rate over time is not known."]),
    ]  # fmt: skip
    s = suite
    return render_html(
        "report/report.html.j2",
        title=s.title, suite=s.name, lab=s.lab, results=str(Path(results_path).resolve()),
        settings=f"load tool {s.load_tool}, {s.concurrency} concurrent, {s.duration} s per case "
        f"(+{s.warmup} s warm-up), {report.repeats_line(s)}, levels {', '.join(map(str, s.levels))}",
        lab_lines=report.lab_lines(manifest, records), state=run_state(manifest),
        commit=manifest.get("lab_commit") or "unknown",
        started=manifest.get("started", "?"), ended=manifest.get("ended") or "-",
        hosts=host_rows, versions=versions(manifest), audit_error=manifest.get("audit_error"),
        deviations=deviations(suite, manifest, host_rows), sections=sections,
        failed=[r for r in records if not r.ok], footnote=report.FOOTNOTE.splitlines(),
    )  # fmt: skip


def page(results_path: Path, suite: Suite, records: list[CaseRecord], manifest: dict[str, Any]) -> str:
    """report.html of a results directory: `html` with the run's audit.json when it has one."""
    audit_file = results_path / "audit.json"
    audit = load_json(audit_file, "move it aside to render without it") if audit_file.is_file() else None
    if audit is not None and not (isinstance(audit, dict) and isinstance(audit.get("hosts"), dict)):
        raise UserError(
            f"{display(audit_file)}: not an audit (no 'hosts' object); move it aside to render without it"
        )
    return html(suite, records, manifest, results_path, audit)
