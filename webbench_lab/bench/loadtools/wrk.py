"""wrk: an event loop per thread, keep-alive connections; --latency gives the distribution."""

from __future__ import annotations

import re

from webbench_lab.bench.loadtools.base import (
    Invocation,
    LoadResult,
    LoadSpec,
    LoadTool,
    ParseError,
    last_line,
    size_bytes,
)

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _ms(value: str) -> float:
    m = re.fullmatch(r"([0-9.]+)(us|ms|s|m)", value)
    if not m:
        raise ParseError(f"wrk: unexpected latency {value!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


class Wrk(LoadTool):
    name = "wrk"
    rate_unit = "requests"

    def invocation(self, spec: LoadSpec) -> Invocation:
        threads = max(1, min(spec.concurrency, spec.cpus))  # a thread per generator CPU at most
        c, d = str(spec.concurrency), f"{spec.seconds}s"
        return Invocation(argv=["wrk", "-t", str(threads), "-c", c, "-d", d, "--latency", spec.url])

    def parse(self, text: str) -> LoadResult:
        """wrk --latency: requests, duration, bytes, Requests/sec, the distribution and errors."""
        total = re.search(r"^\s*(\d+) requests in ([0-9.]+)(us|ms|s|m), ([0-9.]+[KMGT]?B) read", text, re.M)
        rate = re.search(r"^Requests/sec:\s+([0-9.]+)", text, re.M)
        if not total or not rate:
            raise ParseError(f"wrk: no summary in its output ({last_line(text)})")
        requests = int(total.group(1))
        # wrk's Requests/sec counts every answer; answers >= 400 ("Non-2xx or 3xx") are not
        # successful and are left out of the rate. Its socket errors are in no request (a
        # "timeout" counts a slow answer, which is still a request: wrk abandons none).
        non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
        bad = min(int(non2xx.group(1)), requests) if non2xx else 0
        failures = bad
        errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
        if errors:
            failures += sum(int(g) for g in errors.groups())
        # With no finished request wrk still prints 0.00us latencies: there are none.
        dist = dict(re.findall(r"^\s+(50|75|90|99)%\s+(\S+)", text, re.M)) if requests else {}
        mean = re.search(r"^\s+Latency\s+(\S+)", text, re.M) if requests else None
        return LoadResult(
            tool=self.name,
            requests=requests,
            rate=float(rate.group(1)) * (requests - bad) / requests if requests else 0.0,
            failures=failures,
            elapsed=_ms(total.group(2) + total.group(3)) / 1000,
            availability=100.0 * (requests - min(failures, requests)) / requests if requests else 0.0,
            p50_ms=_ms(dist["50"]) if "50" in dist else None,
            p90_ms=_ms(dist["90"]) if "90" in dist else None,
            p99_ms=_ms(dist["99"]) if "99" in dist else None,
            mean_ms=_ms(mean.group(1)) if mean else None,
            bytes_received=size_bytes(total.group(4)),
        )
