"""compare.html: the comparison of two runs (bench/compare.py) as a forest plot, one row per case
with its ratio B/A, 95% interval and verdict, beside compare.md's table. Same charts and page
style as report.html (bench/charts.py, templates/report/)."""

from __future__ import annotations

from webbench_lab.bench import charts
from webbench_lab.bench.compare import ALPHA, HEADER, METHOD, MIN_REPEATS, Comparison, describe, table_row
from webbench_lab.templating import render_html
from webbench_lab.yamlfile import display


def forest(comparison: Comparison) -> charts.Chart:
    rows = [
        charts.Ratio(f"{c.system} L{c.level} {c.scenario}", c.ratio, c.ci, c.verdict, c.flags)
        for c in comparison.cases
    ]
    return charts.forest_chart("forest", "B/A per case", rows, comparison.threshold_pct)


def html(comparison: Comparison) -> str:
    c = comparison
    incomplete = [side for side, run in (("A", c.a), ("B", c.b)) if run.manifest.get("complete") is not True]
    return render_html(
        "report/compare.html.j2",
        title=f"compare: {display(c.b.path)} (B) against {display(c.a.path)} (A)",
        a=describe(c.a), b=describe(c.b), chart=forest(c), header=HEADER,
        rows=[table_row(x) for x in c.cases],
        method=f"{METHOD}. A verdict needs p < {ALPHA:g}, a change beyond ±{c.threshold_pct:g}% and at "
        f"least {MIN_REPEATS} ok repeats on each side (else cannot tell).",
        forced=c.forced, incomplete=incomplete, count_line=c.count_line(), shift_lines=c.shift_lines(),
        only=[(side, ", ".join(f"{s} L{lv} {sc}" for s, lv, sc in missing))
              for side, missing in (("A", c.only_in_a), ("B", c.only_in_b)) if missing],
    )  # fmt: skip
