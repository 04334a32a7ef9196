"""k6: Lab B's tool. A script of the lab's (one endpoint, random ids); the figures come from its
--summary-export JSON, not from its standard output."""

from __future__ import annotations

import json

from webbench_lab.bench.loadtools.base import (
    Invocation,
    LoadResult,
    LoadSpec,
    LoadTool,
    ParseError,
    last_line,
)
from webbench_lab.templating import render

TREND_STATS = "avg,min,med,max,p(90),p(99)"


class K6(LoadTool):
    name = "k6"
    rate_unit = "requests"

    def invocation(self, spec: LoadSpec) -> Invocation:
        script = f"{spec.prefix}.js"
        summary = f"{spec.workdir}/{spec.prefix}.summary.json"
        split = spec.url.index("/", len("http://"))  # http://host:port | /path
        text = render(
            "generator/k6.js.j2",
            target=spec.url[:split],
            endpoint=spec.url[split:],
            id_count=spec.settings["redis_seed_count"],
        )
        argv = [
            "k6", "run", "--quiet", "--no-color", "--vus", str(spec.concurrency),
            "--duration", f"{spec.seconds}s", "--summary-trend-stats", TREND_STATS,
            "--summary-export", summary, f"{spec.workdir}/{script}",
        ]  # fmt: skip
        return Invocation(argv=argv, files={script: text}, result_file=summary, result_name="summary.json")

    def parse(self, text: str) -> LoadResult:
        """--summary-export JSON: http_reqs, the http_req_duration trend, http_req_failed, bytes.
        A run in which no request finished has no http_reqs at all: zero requests, not an error."""
        try:
            metrics = json.loads(text)["metrics"]
        except (ValueError, KeyError, TypeError):
            raise ParseError(f"k6: no summary export ({last_line(text)})") from None
        reqs = metrics.get("http_reqs", {"count": 0, "rate": 0.0})
        duration = metrics.get("http_req_duration", {})
        failed_rate = float(metrics.get("http_req_failed", {}).get("value", 0.0))
        count = int(reqs["count"])
        received = metrics.get("data_received", {}).get("count")
        return LoadResult(
            tool=self.name,
            requests=count,
            rate=float(reqs["rate"]),
            failures=round(failed_rate * count),
            elapsed=count / float(reqs["rate"]) if reqs.get("rate") else None,
            availability=100.0 * (1 - failed_rate) if count else 0.0,
            p50_ms=duration.get("med") if count else None,
            p90_ms=duration.get("p(90)") if count else None,
            p99_ms=duration.get("p(99)") if count else None,
            mean_ms=duration.get("avg") if count else None,
            bytes_received=None if received is None else int(received),
        )
