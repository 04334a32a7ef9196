"""Our numbers beside the published ones: Lab A's tables as the article printed them (one per level,
transactions/s per system, with the ratio to Go http) and Lab B's (QPS, P50, P99, memory)."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from webbench_lab.apps.systems import all_systems
from webbench_lab.bench.record import CaseRecord
from webbench_lab.bench.suites import Suite

BASELINE = {"A": "go-http", "B": "gin"}


def _value(r: CaseRecord, key: str) -> float | None:
    """A figure (rate, latencies) or a resource (CPU, memory) of a case; None when it has none."""
    for part in (r.figures, r.resources):
        if part is not None and hasattr(part, key):
            return getattr(part, key)
    return None


def _mean(rows: list[CaseRecord], key: str) -> float | None:
    values = [v for r in rows if r.ok and (v := _value(r, key)) is not None]
    return sum(values) / len(values) if values else None


def _cell(rows: list[CaseRecord]) -> tuple[str, float | None, str]:
    """Our figure for a table cell (mean over repeats) or why there is none, and its marks."""
    if not rows:
        return "-", None, ""
    ok = [r for r in rows if r.ok]
    if not ok:
        return rows[0].status + _marks(rows), None, ""
    return "", _mean(ok, "rate"), _marks(ok)


def _marks(rows: list[CaseRecord]) -> str:
    """' *' generator-bound, ' ?' not known (samples missing), ' †' measured again after the load
    tool hung (see FOOTNOTE)."""
    bound = " *" if any(r.generator_bound for r in rows) else ""
    if not bound and any(r.ok and r.generator_bound is None for r in rows):
        bound = " ?"
    retried = " †" if any(r.retried for r in rows) else ""
    return bound + retried


def _fmt(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def tables(suite: Suite, rows: list[CaseRecord]) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, header, rows) per table: the same data for the terminal and for report.md."""
    names = all_systems()
    out = []
    published = suite.published
    if suite.lab == "A":
        pub = published.get(suite.scenarios[0].name, {})
        for level in suite.levels:
            by_system = {s: [r for r in rows if r.system == s and r.level == level] for s in suite.systems}
            base = _cell(by_system.get(BASELINE["A"], []))[1]
            pub_base = pub.get(BASELINE["A"], {}).get(level)
            body = []
            for system in suite.systems:
                note, rate, marks = _cell(by_system[system])
                published_rate = pub.get(system, {}).get(level)
                body.append(
                    [
                        names[system].display,
                        note or _fmt(rate) + marks,
                        _fmt(published_rate),
                        _fmt(rate / base, 2) if rate and base else "-",
                        _fmt(published_rate / pub_base, 2) if published_rate and pub_base else "-",
                    ]
                )
            title = f"Lab A, level {level} (GOMAXPROCS={level}, {level} Python process(es)): transactions/s"
            out.append(
                (title, ["system", "ours", "published", "ours / Go http", "published / Go http"], body)
            )
        return out
    for level in suite.levels:
        body = []
        for scenario in suite.scenarios:
            pub = published.get(scenario.name, {})
            for system in suite.systems:
                case_rows = [
                    r for r in rows if r.system == system and r.level == level and r.scenario == scenario.name
                ]
                note, rate, marks = _cell(case_rows)
                p: dict[str, Any] = pub.get(system, {})
                body.append(
                    [
                        scenario.name,
                        names[system].display,
                        note or _fmt(rate) + marks,
                        _fmt(_mean(case_rows, "p50_ms"), 1),
                        _fmt(_mean(case_rows, "p99_ms"), 1),
                        _fmt(_mean(case_rows, "server_rss_mb"), 0),
                        _fmt(p.get("qps")),
                        _fmt(p.get("p50_ms")),
                        _fmt(p.get("p99_ms")),
                        _fmt(p.get("memory_mb")),
                    ]
                )
        header = ["scenario", "system", "QPS", "P50 ms", "P99 ms", "RSS MB",
                  "pub. QPS", "pub. P50", "pub. P99", "pub. MB"]  # fmt: skip
        out.append((f"Lab B, level {level}", header, body))
    return out


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
    "* generator-bound: the generator's CPU averaged >= 90% during the measurement.\n"
    "? generator-bound unknown: a host gave too few samples (samples_missing) to tell.\n"
    "† retried: the load tool hung and was killed; the figure is from the first attempt that "
    "completed (case.json lists every attempt)."
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
        f"{suite.repeats} repeat(s). Run complete: {manifest.get('complete')}.",
        "",
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
