"""The report's charts, drawn by matplotlib (Agg) as SVG, each kept with the data it shows.

A chart is a `Chart`: its SVG text and `marks`, the flags drawn on each bar or line, so that a test
(and the page's `data-marks`) can check that a flagged case is marked on the chart itself, not
only in a footnote. Flagged figures are hatched and labelled; a case without a figure (failed, not
buildable, not run) is an empty hatched slot with its reason written in it. matplotlib is imported
inside the functions: the command line starts without it.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

OURS = "#1f77b4"
PUBLISHED = "#bbbbbb"
FLAGGED = "#d62728"
LABEL_BOX = {"facecolor": "white", "alpha": 0.85, "pad": 1, "edgecolor": "none"}  # a flag written on a bar
SHORT = {  # the label written on a bar for each flag
    "generator-bound": "gen-bound",
    "samples missing": "samples?",
    "oversubscribed": "oversub.",
    "retried": "retried",
    "repeats failed": "some failed",
    "failed": "failed",
    "not buildable": "not buildable",
    "not run": "not run",
}


@dataclass
class Bar:
    """One system's figure: ours (mean and 95% half-width), the published one, and its flags."""

    label: str
    value: float | None
    ci: float | None = None
    published: float | None = None
    flags: list[str] = field(default_factory=list)


@dataclass
class Line:
    """One system across levels: ours (mean, half-width or None per level) and the published."""

    label: str
    values: list[float | None]
    cis: list[float | None]
    published: list[float | None]
    flags: list[list[str]]


@dataclass
class Chart:
    id: str
    title: str
    svg: str
    marks: dict[str, list[str]]  # label (bar or line, with its group) -> flags drawn on it
    drawn: int = 0  # how many bars the chart has (0: not counted)

    @property
    def by_flag(self) -> dict[str, list[str]]:
        """The marked labels per flag, for the caption: one line per flag reads faster, and a flag
        on every bar (level 4 on a one-core server: all oversubscribed) is said in two words."""
        out: dict[str, list[str]] = {}
        for label, flags in self.marks.items():
            for flag in flags:
                out.setdefault(flag, []).append(label)
        every = self.drawn > 1
        return {flag: ["every bar"] if every and len(labels) == self.drawn else labels
                for flag, labels in out.items()}  # fmt: skip

    @property
    def data_uri(self) -> str:
        return "data:image/svg+xml;base64," + base64.b64encode(self.svg.encode()).decode()


@contextmanager
def _figure(*size: float, ncols: int = 1) -> Iterator[tuple[Any, list[Any]]]:
    """A figure on the Agg backend with fixed SVG ids and no date: the same data gives the same
    bytes, so a report rendered again is the same file."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rc: dict[str, Any] = {"svg.hashsalt": "webbench-lab", "svg.fonttype": "none", "font.size": 8}
    with matplotlib.rc_context(rc):  # type: ignore[arg-type]  # keys checked by matplotlib at run time
        fig, axes = plt.subplots(1, ncols, figsize=size, squeeze=False)
        try:
            yield fig, list(axes[0])
        finally:
            plt.close(fig)


def _svg(fig: Any) -> str:
    buf = io.StringIO()
    fig.tight_layout()
    fig.savefig(buf, format="svg", metadata={"Date": None})
    return buf.getvalue()


def _flag_text(flags: list[str]) -> str:
    return "\n".join(SHORT.get(f, f) for f in flags)


def _draw_bars(ax: Any, bars: list[Bar], ylabel: str, published_name: str) -> dict[str, list[str]]:
    """Ours beside the published figure for each system; flags drawn on the bar."""
    width = 0.4
    marks: dict[str, list[str]] = {}
    has_published = any(b.published is not None for b in bars)
    top = max([0.0, *(v for b in bars for v in (b.value, b.published) if v is not None)]) or 1.0
    for i, b in enumerate(bars):
        x = i - width / 2 if has_published else i
        if b.flags:
            marks[b.label] = list(b.flags)
        if b.value is None:
            ax.bar(x, top * 0.12, width, color="white", edgecolor=FLAGGED, hatch="xx", linewidth=0.8)
            ax.text(x, top * 0.14, _flag_text(b.flags) or "no figure", rotation=90, ha="center",
                    va="bottom", color=FLAGGED, fontsize=7)  # fmt: skip
        else:
            flagged = bool(b.flags)
            ax.bar(
                x, b.value, width, color=OURS, edgecolor=FLAGGED if flagged else OURS,
                hatch="//" if flagged else None, linewidth=0.8,
                yerr=b.ci if b.ci else None, capsize=3, ecolor="black",
            )  # fmt: skip
            if flagged:
                ax.text(x, b.value + (b.ci or 0) + top * 0.02, _flag_text(b.flags), ha="center",
                        va="bottom", color=FLAGGED, fontsize=6.5)  # fmt: skip
        if b.published is not None:
            ax.bar(i + width / 2, b.published, width, color=PUBLISHED, edgecolor="#666666", linewidth=0.6)
    ax.set_xticks(range(len(bars)), [b.label for b in bars], rotation=30, ha="right")
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, top * 1.3)
    ax.grid(axis="y", alpha=0.3)
    from matplotlib.patches import Patch

    handles = [Patch(color=OURS, label="ours (mean, 95% CI)")]
    if has_published:
        handles.append(Patch(facecolor=PUBLISHED, edgecolor="#666666", label=published_name))
    handles.append(Patch(facecolor="white", edgecolor=FLAGGED, hatch="//", label="flagged"))
    ax.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=3, fontsize=7,
              frameon=False)  # fmt: skip
    return marks


def levels_chart(
    chart_id: str, title: str, absolute: list[Bar], normalised: list[Bar], published_name: str
) -> Chart:
    """Lab A at one level: rates beside the published ones, and both normalised to the first bar."""
    with _figure(11, 3.8, ncols=2) as (fig, (left, right)):
        marks = _draw_bars(left, absolute, "transactions/s", published_name)
        left.set_title("absolute", pad=16)
        _draw_bars(right, normalised, f"relative to {absolute[0].label}", published_name)
        right.set_title(f"normalised to {absolute[0].label}", pad=16)
        right.axhline(1.0, color="black", linewidth=0.6)
        fig.suptitle(title)
        return Chart(chart_id, title, _svg(fig), marks, drawn=len(absolute))


def grouped_chart(
    chart_id: str, title: str, groups: dict[str, list[Bar]], ylabel: str, log: bool = False
) -> Chart:
    """Bars per group (a scenario), one per system, each with its published figure marked ◆."""
    import matplotlib.colors as mcolors

    systems = list(dict.fromkeys(b.label for bars in groups.values() for b in bars))
    colors = list(mcolors.TABLEAU_COLORS.values())
    width = 0.8 / max(len(systems), 1)
    marks: dict[str, list[str]] = {}
    with _figure(10, 3.8) as (fig, (ax,)):
        values = [v for bars in groups.values() for b in bars for v in (b.value, b.published) if v]
        top = max(values, default=1.0)
        bottom = min(values, default=1.0)
        slot = math.sqrt(bottom * top) if log else top * 0.12  # where a slot without a figure ends
        for g, (group, bars) in enumerate(groups.items()):
            for b in bars:
                s = systems.index(b.label)
                x = g - 0.4 + width * (s + 0.5)
                if b.flags:
                    marks[f"{group} / {b.label}"] = list(b.flags)
                if b.value is None:
                    ax.bar(x, slot, width, color="white", edgecolor=FLAGGED, hatch="xx", linewidth=0.8,
                           bottom=bottom / 10 if log else 0)  # fmt: skip
                    ax.text(x, bottom / 5 if log else top * 0.01, _flag_text(b.flags) or "no figure",
                            rotation=90, ha="center", va="bottom", color=FLAGGED, fontsize=6.5)  # fmt: skip
                    continue
                flagged = bool(b.flags)
                ax.bar(
                    x, b.value, width, color=colors[s % len(colors)],
                    edgecolor="black" if flagged else "none", hatch="//" if flagged else None,
                    label=b.label if g == 0 or b.label not in ax.get_legend_handles_labels()[1] else None,
                    yerr=b.ci if b.ci else None, capsize=2, ecolor="black",
                )  # fmt: skip
                if flagged:  # written up the bar from its base: the bars are too narrow for a line
                    ax.text(x, bottom / 5 if log else top * 0.01, " · ".join(SHORT[f] for f in b.flags),
                            rotation=90, ha="center", va="bottom", color=FLAGGED, fontsize=6,
                            bbox=LABEL_BOX)  # fmt: skip
                if b.published is not None:
                    ax.plot([x], [b.published], marker="D", color="black", markersize=5, linestyle="none",
                            label="published" if "published" not in ax.get_legend_handles_labels()[1]
                            else None)  # fmt: skip
        ax.set_xticks(range(len(groups)), list(groups))
        if log:
            ax.set_yscale("log")
            ax.set_ylim(bottom / 10, top * 5)
        else:
            ax.set_ylim(0, top * 1.3)
        ax.set_ylabel(ylabel)
        ax.grid(axis="y", alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
        ax.set_title(title)
        return Chart(chart_id, title, _svg(fig), marks, drawn=sum(len(bars) for bars in groups.values()))


def scaling_chart(chart_id: str, title: str, levels: list[int], lines: list[Line]) -> Chart:
    """Rate against level per system: ours solid (95% CI bars), the published dashed."""
    import matplotlib.colors as mcolors

    colors = list(mcolors.TABLEAU_COLORS.values())
    marks: dict[str, list[str]] = {}
    missing: dict[int, list[str]] = {}
    with _figure(10, 4.2) as (fig, (ax,)):
        for i, line in enumerate(lines):
            color = colors[i % len(colors)]
            xs = [lv for lv, v in zip(levels, line.values, strict=True) if v is not None]
            ys = [v for v in line.values if v is not None]
            es = [c or 0.0 for c, v in zip(line.cis, line.values, strict=True) if v is not None]
            if ys:
                ax.errorbar(xs, ys, yerr=es, color=color, marker="o", capsize=3, label=line.label)
            pub = [(lv, p) for lv, p in zip(levels, line.published, strict=True) if p is not None]
            if pub:
                ax.plot(*zip(*pub, strict=True), color=color, linestyle="--", alpha=0.7)
            for lv, v, flags in zip(levels, line.values, line.flags, strict=True):
                if not flags:
                    continue
                marks[f"{line.label} / level {lv}"] = list(flags)
                if v is None:
                    missing.setdefault(lv, []).append(f"{line.label}: {', '.join(SHORT[f] for f in flags)}")
                else:
                    ax.plot([lv], [v], marker="o", markersize=9, markerfacecolor="none", color=FLAGGED)
        for lv, texts in missing.items():  # one note per level: the cases without a figure there
            ax.annotate("\n".join(texts), (lv, 0), xycoords=("data", "axes fraction"), xytext=(3, 4),
                        textcoords="offset points", fontsize=6, color=FLAGGED)  # fmt: skip
        ax.plot([], [], color="gray", linestyle="--", label="published (dashed)")
        ax.plot([], [], marker="o", markerfacecolor="none", color=FLAGGED, linestyle="none", label="flagged")
        ax.set_xscale("log", base=2)
        ax.set_xticks(levels, [str(lv) for lv in levels])
        ax.set_yscale("log")
        ax.set_xlabel("level (GOMAXPROCS / Python processes)")
        ax.set_ylabel("transactions/s")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
        ax.set_title(title)
        return Chart(chart_id, title, _svg(fig), marks)


Series = list[tuple[str, list[float], list[float]]]  # (label, seconds, values) per repeat


def timeseries_chart(
    chart_id: str, title: str, panels: dict[str, Series], limits: dict[str, tuple[float, str]] | None = None
) -> Chart:
    """Small multiples of one case's samples over time (one line per repeat); `limits` draws a
    dashed line on a panel (the server's CPU quota: a flat line at it is a server at its limit)."""
    limits = limits or {}
    with _figure(10, 2.0, ncols=len(panels)) as (fig, axes):
        for ax, (name, series) in zip(axes, panels.items(), strict=True):
            for label, xs, ys in series:
                ax.plot(xs, ys, linewidth=0.9, label=label)
            if name in limits:
                y, text = limits[name]
                ax.axhline(y, color="black", linestyle="--", linewidth=0.8)
                ax.annotate(text, (0.01, y), xycoords=("axes fraction", "data"), xytext=(0, 2),
                            textcoords="offset points", fontsize=6)  # fmt: skip
            ax.set_title(name, fontsize=8)
            ax.set_xlabel("s", fontsize=7)
            ax.grid(alpha=0.3)
            if "%" in name:
                ax.set_ylim(0, 105)
        if any(series for series in panels.values()):
            axes[0].legend(fontsize=6, loc="lower right")
        fig.suptitle(title, fontsize=8)
        return Chart(chart_id, title, _svg(fig), {})


@dataclass
class Ratio:
    """One case of a comparison: B/A with its 95% interval (None: unbounded or unknown)."""

    label: str
    ratio: float | None
    ci: tuple[float, float] | None
    verdict: str
    flags: list[str] = field(default_factory=list)


VERDICT_COLORS = {"slower": FLAGGED, "faster": "#2ca02c", "no significant change": "#555555",
                  "cannot tell": "#aaaaaa"}  # fmt: skip


def forest_chart(chart_id: str, title: str, rows: list[Ratio], threshold_pct: float) -> Chart:
    """A forest plot: per case its ratio B/A (dot, by verdict) and 95% interval (line), with 1 and
    the threshold's band behind them; a case without a ratio is named at the axis."""
    marks: dict[str, list[str]] = {}
    with _figure(9, 0.9 + 0.32 * max(len(rows), 1)) as (fig, (ax,)):
        ax.axvspan(1 - threshold_pct / 100, 1 + threshold_pct / 100, color="#eeeeee", zorder=0,
                   label=f"±{threshold_pct:g}% (threshold)")  # fmt: skip
        ax.axvline(1.0, color="black", linewidth=0.8)
        seen: set[str] = set()
        for i, row in enumerate(rows):
            y = len(rows) - 1 - i
            marks[row.label] = [row.verdict, *row.flags]
            color = VERDICT_COLORS.get(row.verdict, "black")
            if row.ci is not None:
                ax.plot(list(row.ci), [y, y], color=color, linewidth=2)
            if row.ratio is not None:
                hollow = row.verdict == "cannot tell"
                ax.plot([row.ratio], [y], marker="o", color=color, linestyle="none",
                        markerfacecolor="white" if hollow else color,
                        label=None if row.verdict in seen else row.verdict)  # fmt: skip
                seen.add(row.verdict)
            note = "; ".join(x for x in (row.verdict if row.ratio is None else "", *row.flags) if x)
            if note:
                ax.annotate(note, (1.0, y), xycoords=("axes fraction", "data"), xytext=(4, 0),
                            textcoords="offset points", va="center", fontsize=6.5, color=FLAGGED)  # fmt: skip
        ax.set_yticks(range(len(rows)), [r.label for r in reversed(rows)])
        ax.set_xlabel("B/A (ratio of the mean rates, 95% CI)")
        ax.set_ylim(-0.7, len(rows) - 0.3)
        ax.grid(axis="x", alpha=0.3)
        ax.legend(fontsize=7, loc="lower left", bbox_to_anchor=(0.0, 1.0), ncols=5, frameon=False)
        ax.set_title(title, loc="left", pad=18)
        return Chart(chart_id, title, _svg(fig), marks)
