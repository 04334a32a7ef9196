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
STOP_SLACK_S = 2  # gracefulStop = the request timeout + this: a last request times out before it


def graceful_stop(spec: LoadSpec) -> int:
    """Seconds k6 waits after the duration for the requests in flight (they finish or time out)."""
    return spec.timeout + STOP_SLACK_S


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
            vus=spec.concurrency,
            seconds=spec.seconds,
            timeout=spec.timeout,
            graceful_stop=graceful_stop(spec),
        )
        # No --vus/--duration: k6's command-line shortcuts replace the script's scenarios (and
        # with them its gracefulStop) by a default one.
        argv = [
            "k6", "run", "--quiet", "--no-color", "--summary-trend-stats", TREND_STATS,
            "--summary-export", summary, f"{spec.workdir}/{script}",
        ]  # fmt: skip
        return Invocation(argv=argv, files={script: text}, result_file=summary, result_name="summary.json")

    def overrun(self, spec: LoadSpec) -> float:
        return float(graceful_stop(spec))

    def parse(self, text: str) -> LoadResult:
        """--summary-export JSON: http_reqs, the http_req_duration trend, http_req_failed, bytes.

        k6 counts a request that timed out (or failed, or was answered >= 400) in http_reqs, flags
        it in http_req_failed (its `passes` are the failed requests) and records its duration in
        http_req_duration at about the timeout: k6's duration leaves out connecting, so it can be a
        few ms under it (1997.9 to 2001.1 ms for a 2 s timeout in k6-timeout-c10.json). So
        `requests` is every request with an outcome, `rate` the successful ones per second, and
        the latencies are k6's own over all of them (a timed-out request at its timeout, a lower
        bound of what it would have taken). A run in which no request ended at all has no
        http_reqs: zero requests, not an error."""
        try:
            metrics = json.loads(text)["metrics"]
        except (ValueError, KeyError, TypeError):
            raise ParseError(f"k6: no summary export ({last_line(text)})") from None
        reqs = metrics.get("http_reqs", {"count": 0, "rate": 0.0})
        duration = metrics.get("http_req_duration", {})
        count = int(reqs["count"])
        failed = metrics.get("http_req_failed", {})
        failures = (
            int(failed["passes"]) if "passes" in failed else round(float(failed.get("value", 0.0)) * count)
        )
        failures = min(failures, count)
        total_rate = float(reqs["rate"])
        received = metrics.get("data_received", {}).get("count")
        return LoadResult(
            tool=self.name,
            requests=count,
            rate=total_rate * (count - failures) / count if count else 0.0,
            failures=failures,
            elapsed=count / total_rate if total_rate else None,
            availability=100.0 * (count - failures) / count if count else 0.0,
            p50_ms=duration.get("med") if count else None,
            p90_ms=duration.get("p(90)") if count else None,
            p99_ms=duration.get("p(99)") if count else None,
            mean_ms=duration.get("avg") if count else None,
            bytes_received=None if received is None else int(received),
        )
