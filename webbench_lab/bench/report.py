"""Our numbers beside the published ones: Lab A's tables as the article printed them (one per level,
transactions/s per system, with the ratio to Go http) and Lab B's (QPS, P50, P99, memory). Each of
our figures is a case over its repeats (record.aggregate): the mean with its 95% interval
(`4,036 ±2.1%`), n, the CPU per request, and the marks of FOOTNOTE.

Rates do not compare across machines; ratios within one lab do, so each table also gives our ratio
to the lab's baseline (Go http in Lab A; Gin in Lab B, which the published Lab B quotes as "Gin is
N times FastAPI") with its 95% interval, beside the published ratio, and says whether the published
one is inside our interval."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.table import Table

from webbench_lab.apps.systems import all_systems
from webbench_lab.bench import ceiling, drift
from webbench_lab.bench.record import Aggregate, CaseRecord, aggregate
from webbench_lab.bench.stats import Stat, fieller_ci
from webbench_lab.bench.suites import Suite

BASELINE = {"A": "go-http", "B": "gin"}
LAB_A_HEADER = [
    "system",
    "ours",
    "n",
    "µs CPU/req (app)",
    "published",
    "ours / Go http [95% CI]",
    "published / Go http",
    "ours vs published",
]
LAB_B_RATIO_HEADER = ["scenario", "system", "Gin / system [95% CI]", "Lab B's", "ours vs Lab B's"]


@dataclass(frozen=True)
class Ratio:
    """Our mean rate of one case over another's, with the 95% interval of that ratio by Fieller's
    theorem from both cases' repeats (low/high None: unknown, one repeat on a side or unbounded),
    and whether either figure may be the generator's (True: one is generator-bound; None: unknown)."""

    value: float
    low: float | None
    high: float | None
    bound: bool | None

    def cell(self) -> str:
        if self.low is None or self.high is None:
            return f"{_ratio_fmt(self.value)} [?]"
        return f"{_ratio_fmt(self.value)} [{_ratio_fmt(self.low)}, {_ratio_fmt(self.high)}]"

    def against(self, published: float | None) -> str:
        """`within` when the published ratio is inside our interval, `ours higher` or `ours lower`
        when it is outside (a real difference between the labs), `?` when our interval or a
        generator-bound flag is unknown, `generator-bound` when either figure may be the
        generator's limit (no verdict), `-` when nothing was published."""
        if published is None:
            return "-"
        if self.bound is True:
            return "generator-bound"
        if self.low is None or self.high is None or self.bound is None:
            return "?"
        if self.low <= published <= self.high:
            return "within"
        return "ours higher" if published < self.low else "ours lower"


def ratio(num: Aggregate | None, den: Aggregate | None) -> Ratio | None:
    """mean(num) / mean(den) of the ok repeats' rates, None when either has no figure."""
    if num is None or den is None or not num.rates or not den.rates:
        return None
    top, bottom = num.rate.mean, den.rate.mean  # the means of the same ok repeats' rates
    if top is None or not bottom:
        return None
    ci = fieller_ci(den.rates, num.rates) if len(num.rates) > 1 and len(den.rates) > 1 else None
    flags = (num.generator_bound, den.generator_bound)
    bound = True if True in flags else None if None in flags else False
    low, high = ci if ci is not None else (None, None)
    return Ratio(top / bottom, low, high, bound)


def _ratio_fmt(value: float) -> str:
    size = abs(value)
    return f"{value:.{2 if size < 10 else 1 if size < 100 else 0}f}"


def _by_case(rows: list[CaseRecord]) -> dict[tuple[str, int, str], Aggregate]:
    return {(a.system, a.level, a.scenario): a for a in aggregate(rows)}


def _cell(agg: Aggregate | None) -> tuple[str, float | None]:
    """Our figure for a table cell: the mean rate over the ok repeats with its 95% interval
    (`4,036 ±2.1%`, `±?` when unknown: one repeat) and its marks, or why there is none; and the
    mean, for the ratios."""
    if agg is None:
        return "-", None
    if not agg.ok:
        return agg.status + _marks(agg), None
    return _with_ci(agg.rate) + _marks(agg), agg.rate.mean


def _with_ci(stat: Stat) -> str:
    ci = "?" if stat.ci95_pct is None else f"{stat.ci95_pct:.1f}%"
    return f"{fmt_rate(stat.mean)} ±{ci}"


def fmt_rate(value: float | None) -> str:
    """A rate with the decimals it needs: Lab B's CPU-bound Python rates are a fraction of a
    request per second, which `,.0f` turned into 0."""
    if value is None:
        return "-"
    size = abs(value)
    return _fmt(value, 0 if size >= 100 or size == 0 else 1 if size >= 10 else 2)


def _n(agg: Aggregate | None) -> str:
    """The repeats with a figure, and of how many when some failed."""
    if agg is None:
        return "-"
    return f"{agg.n} of {agg.repeats}" if agg.failed else str(agg.n)


def _cost(agg: Aggregate | None) -> str:
    """µs of the server's CPU per request, and in brackets its system's own share (the rest is
    the kernel's, TCP setup included, and the other processes')."""
    host, app = _mean(agg, "server_cpu_us_per_req"), _mean(agg, "server_app_cpu_us_per_req")
    return _fmt(host) if app is None else f"{_fmt(host)} ({_fmt(app)})"


def _mean(agg: Aggregate | None, key: str) -> float | None:
    return agg.stats[key].mean if agg is not None else None


def _marks(agg: Aggregate) -> str:
    """' *' generator-bound, ' ?' not known (samples missing), ' †' measured again after the load
    tool hung, ' ⁺' oversubscribed (see FOOTNOTE)."""
    bound = " *" if agg.generator_bound else " ?" if agg.ok and agg.generator_bound is None else ""
    retried = " †" if agg.retried else ""
    over = " ⁺" if agg.oversubscribed else ""
    return bound + retried + over


def _fmt(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def tables(suite: Suite, rows: list[CaseRecord]) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, header, rows) per table: the same data for the terminal and for report.md."""
    names = all_systems()
    out = []
    published = suite.published
    cases = _by_case(rows)
    if suite.lab == "A":
        first = suite.scenarios[0].name
        pub = published.get(first, {})
        for level in suite.levels:
            base = cases.get((BASELINE["A"], level, first))
            pub_base = pub.get(BASELINE["A"], {}).get(level)
            body = []
            for system in suite.systems:
                agg = cases.get((system, level, first))
                text, _ = _cell(agg)
                published_rate = pub.get(system, {}).get(level)
                pub_ratio = published_rate / pub_base if published_rate and pub_base else None
                ours = ratio(agg, base) if system != BASELINE["A"] else None
                body.append(
                    [
                        names[system].display,
                        text,
                        _n(agg),
                        _cost(agg),
                        _fmt(published_rate),
                        ours.cell() if ours else "1" if system == BASELINE["A"] and agg and agg.ok else "-",
                        _fmt(pub_ratio, 2),
                        ours.against(pub_ratio) if ours else "-",
                    ]
                )
            title = f"Lab A, level {level} (GOMAXPROCS={level}, {level} Python process(es)): transactions/s"
            out.append((title, LAB_A_HEADER, body))
        return out
    for level in suite.levels:
        body = []
        for scenario in suite.scenarios:
            pub = published.get(scenario.name, {})
            for system in suite.systems:
                agg = cases.get((system, level, scenario.name))
                text, _ = _cell(agg)
                p: dict[str, Any] = pub.get(system, {})
                body.append(
                    [
                        scenario.name,
                        names[system].display,
                        text,
                        _n(agg),
                        _fmt(_mean(agg, "p50_ms"), 1),
                        _fmt(_mean(agg, "p99_ms"), 1),
                        _fmt(_mean(agg, "server_rss_mb"), 0),
                        _cost(agg),
                        _fmt(p.get("qps")),
                        _fmt(p.get("p50_ms")),
                        _fmt(p.get("p99_ms")),
                        _fmt(p.get("memory_mb")),
                    ]
                )
        header = ["scenario", "system", "QPS", "n", "P50 ms", "P99 ms", "RSS MB", "µs CPU/req (app)",
                  "pub. QPS", "pub. P50", "pub. P99", "pub. MB"]  # fmt: skip
        out.append((f"Lab B, level {level}", header, body))
        ratios = lab_b_ratios(suite, cases, level)
        if ratios:
            title = f"Lab B, level {level}: Gin's rate over each system's, ours beside Lab B's"
            out.append((title, LAB_B_RATIO_HEADER, ratios))
    return out


def lab_b_ratios(suite: Suite, cases: dict[tuple[str, int, str], Aggregate], level: int) -> list[list[str]]:
    """Per scenario and system other than Gin: Gin's mean rate over the system's with its interval,
    beside the published QPS ratio (Lab B's "Gin is N times FastAPI"); a system with neither is left
    out. Empty when Gin has no figure at this level."""
    names = all_systems()
    rows = []
    for scenario in suite.scenarios:
        gin = cases.get((BASELINE["B"], level, scenario.name))
        if gin is None or not gin.rates:
            continue
        pub = suite.published.get(scenario.name, {})
        pub_gin = pub.get(BASELINE["B"], {}).get("qps")
        for system in suite.systems:
            if system == BASELINE["B"]:
                continue
            ours = ratio(gin, cases.get((system, level, scenario.name)))
            pub_sys = pub.get(system, {}).get("qps")
            published = pub_gin / pub_sys if pub_gin and pub_sys else None
            if ours is None and published is None:
                continue
            rows.append(
                [
                    scenario.name,
                    names[system].display,
                    ours.cell() if ours else "-",
                    _ratio_fmt(published) if published is not None else "-",
                    ours.against(published) if ours else "-",
                ]
            )
    return rows


def differs(suite: Suite) -> list[str]:
    """One line per scenario measured with its own settings: what differs from the suite's (the
    published lab's) and why, as the suite file says."""
    lines = []
    for sc in suite.scenarios:
        if not sc.overridden:
            continue
        concurrency, duration, timeout = suite.settings(sc)
        lines.append(
            f"{sc.name}: {concurrency} concurrent, {duration} s, {timeout} s request timeout instead of "
            f"{suite.concurrency} concurrent, {suite.duration} s: {sc.why}"
        )
    return lines


FOOTNOTE = (
    'Our figures: the mean over the repeats with a figure (n; "2 of 3" when one failed) ± the '
    "half-width of the 95% confidence interval of that mean (Student t), in percent of it; ±? when "
    "it is unknown (one repeat). P50, P99, RSS and µs CPU/req are means over the same repeats.\n"
    "µs CPU/req (app): microseconds of the server's CPU (all of its CPUs) per successful request "
    "during the measurement, and in brackets the system's own processes' share: the difference is "
    "mostly the kernel's (TCP setup and teardown with a connection per request). It compares "
    "across machines where rates do not.\n"
    "* generator-bound: the generator's CPU averaged >= 90% during the measurement, or the rate "
    "reached 80% of the generator's ceiling (the load tool against nginx's fixed replies).\n"
    "? generator-bound unknown: a host gave too few samples (samples_missing) to tell.\n"
    "Ratios (ours / Go http, Gin / system): the ratio of the mean rates with its 95% interval by "
    "Fieller's theorem from both cases' repeats ([?]: one repeat on a side). Against the published "
    "ratio: within (inside our interval), ours higher or ours lower (outside it: the labs really "
    "differ), ? (our interval or a generator-bound flag unknown), generator-bound (either figure may "
    "be the generator's limit: no verdict).\n"
    "† retried: the load tool hung and was killed, or printed nothing; the figure is from the first "
    "attempt that counted (case.json lists every attempt).\n"
    "⁺ oversubscribed: at this level the system runs more processes or threads (GOMAXPROCS, "
    "processes or workers, and nginx's worker when fronted) than the server has CPUs, so on a "
    "one-core server levels 2 and 4 add processes, not CPU."
)


def lab_lines(manifest: dict[str, Any], records: list[CaseRecord] | None = None) -> list[str]:
    """What the figures were measured on, beside them: the server's CPU limit, the generator's
    ceiling per concurrency (bench/ceiling.py), and what other tenants of the machine ran on the
    hosts' CPUs during the measurements."""
    limit = manifest.get("server_cpu_limit")
    lines = [
        f"Server CPU: limited to {limit:g} core(s) of CPU time (cgroup CFS quota, `lab up --server-cpu`)."
        if limit
        else "Server CPU: not limited (all of its CPUs)."
    ]
    kept = manifest.get("server_cpus_kept_awake")
    if kept:
        lines.append(
            f"Server CPUs {', '.join(map(str, kept))} kept awake by the local lab's keeper (a SCHED_IDLE "
            "loop outside the hosts that runs only when nothing else can): a throttled vCPU that halts "
            "between CFS periods wakes late and cold, and the server then used less than its quota."
        )
    elif kept == [] and limit:
        lines.append("Server CPUs not kept awake: no keeper ran (`lab up` starts one).")
    for shared in manifest.get("shared_cpus") or []:
        lines.append(
            f"CPUs {shared['cpus']} shared by {', '.join(shared['hosts'])} (fewer cores than hosts): their "
            "work competes for them, so generators sharing a CPU are judged generator-bound on their "
            "loads added (shared_cpu_pct in case.json)."
        )
    for key, top in (manifest.get("generator_ceiling") or {}).items():
        rate, gen = top.get("rate"), top.get("generator_cpu_pct")
        if not rate:
            lines.append(f"Generator ceiling at {key}: not measured ({top.get('reason') or 'no figure'}).")
            continue
        how = f"generator CPU {gen:.0f}%" if gen is not None else "generator CPU unknown"
        if top.get("server_unlimited"):
            how += ", the server's CPU limit lifted meanwhile"
        share = f"{ceiling.CEILING_SHARE:.0%}"
        if top.get("generator_limited") is True:
            mark = f"a case at {share} of it or more is marked *"
        else:
            how += ", the generator not busy: the target was the limit, so this is a lower bound"
            mark = f"a case at {share} of it or more is marked ? (unknown)"
        reused = reused_text(top)
        lines.append(
            f"Generator ceiling at {key} ({top.get('endpoint')} from nginx's fixed replies): "
            f"{rate:,.0f} requests/s ({how}); {mark}.{f' {reused[0].upper()}{reused[1:]}.' if reused else ''}"
        )
    tenants = tenants_line(records or [])
    if tenants:
        lines.append(tenants)
    if records:
        lines.append(drift.estimate(records).line())
    return lines


def reused_text(top: dict) -> str:
    """Where a reused ceiling came from (bench/ceilingcache.py), or '' for one this run measured."""
    came = top.get("reused_from")
    if not came:
        return ""
    age = int(came.get("age_s") or 0)
    return (
        f"reused from run {came['run']}, measured {came['measured_at']} ({age // 60} min {age % 60} s "
        "before this run) on the same lab, tool and settings; its samples copied here"
    )


def tenants_line(records: list[CaseRecord]) -> str | None:
    """Other tenants' mean share of the server's and the generator's CPUs over the measured
    cases, and the case where they took the most (None: no sampler told them apart)."""
    seen = [(r.case, r.resources) for r in records if r.ok and r.resources is not None]
    server = [
        (res.server_others_cpu_pct, case) for case, res in seen if res.server_others_cpu_pct is not None
    ]
    gen = [res.generator_others_cpu_pct for _, res in seen if res.generator_others_cpu_pct is not None]
    if not server and not gen:
        return None
    top, where = max(server) if server else (0.0, "-")
    mean = sum(v for v, _ in server) / len(server) if server else 0.0
    gmean = sum(gen) / len(gen) if gen else 0.0
    kept = [res.server_keeper_cpu_pct for _, res in seen if res.server_keeper_cpu_pct is not None]
    keeper = (
        f" The keeper filled on average {sum(kept) / len(kept):.0f}% of the server's CPUs, the time "
        "the server left idle; it is not counted as another tenant."
        if kept
        else ""
    )
    return (
        f"Other tenants of the machine (not the lab's hosts) used on average {mean:.0f}% of the server's "
        f"CPUs and {gmean:.0f}% of the generator's during the measurements (most: {top:.0f}% of the "
        f"server's, in {where}); the lab's CPU figures leave them out, but their work can slow the "
        f"lab's through shared caches: run nothing else on the machine during a bench.{keeper}"
    )


def repeats_line(suite: Suite) -> str:
    """How often each case ran, in words (report.md and report.html)."""
    if suite.min_repeats == suite.max_repeats:
        return f"{suite.min_repeats} repeat(s) per case, interleaved"
    return (
        f"{suite.min_repeats} to {suite.max_repeats} repeats per case, interleaved (more while the 95% "
        f"interval of the mean rate is wider than ±{suite.target_ci_pct:g}%)"
    )


def rich_tables(suite: Suite, rows: list[CaseRecord]) -> list[Table]:
    result = []
    for title, header, body in tables(suite, rows):
        table = Table(*header, title=title, caption="\n".join(differs(suite)) or None)
        for row in body:
            table.add_row(*row)
        result.append(table)
    return result


def markdown(suite: Suite, rows: list[CaseRecord], manifest: dict[str, Any]) -> str:
    lines = [
        f"# {suite.title}",
        "",
        f"Suite `{suite.name}`, load tool {suite.load_tool}, "
        f"{suite.concurrency} concurrent, {suite.duration} s per case (+{suite.warmup} s warm-up), "
        f"{repeats_line(suite)}. Run complete: {manifest.get('complete')}.",
        "",
        *[f"{line}\n" for line in lab_lines(manifest, rows)],
    ]
    for title, header, body in tables(suite, rows):
        lines += [
            f"## {title}",
            "",
            "| " + " | ".join(header) + " |",
            "|" + "|".join(" --- " for _ in header) + "|",
        ]
        lines += ["| " + " | ".join(row) + " |" for row in body]
        lines.append("")
        lines += [f"{line}\n" for line in differs(suite)]
    failed = [r for r in rows if not r.ok]
    if failed:
        lines += ["## Cases without a figure (failed, or not buildable)", ""]
        lines += [f"- {r.case}: {r.reason}" for r in failed]
        lines.append("")
    lines += [FOOTNOTE.replace("\n", "\n\n"), ""]
    return "\n".join(lines)
