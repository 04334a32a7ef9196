"""The load generators: how each is invoked, and one parser per tool for what it prints.

Every parser is tested against real outputs captured on the lab (tests/fixtures/loadtools/).
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass

from webbench_lab.errors import LabFailure

TOOLS = ("siege", "wrk", "k6")


@dataclass
class LoadResult:
    """The figures of one load process; `None` where the tool does not give them."""

    tool: str
    requests: int
    rate: float  # transactions (siege) or requests (wrk, k6) per second
    failures: int  # errors and non-2xx answers
    elapsed: float | None = None
    availability: float | None = None  # percent, siege's own figure or derived
    p50_ms: float | None = None
    p90_ms: float | None = None
    p99_ms: float | None = None
    mean_ms: float | None = None

    def as_dict(self) -> dict:
        return asdict(self)


class ParseError(LabFailure):
    """The tool's output is not what its parser expects (the raw output is kept)."""


def command(
    tool: str,
    url: str,
    concurrency: int,
    duration: int,
    *,
    threads: int = 1,
    rc_file: str = "",
    script: str = "",
    summary: str = "",
    extra: list[str] | None = None,
) -> list[str]:
    """argv of one load process."""
    extra = list(extra or [])
    c, d = str(concurrency), str(duration)
    if tool == "siege":
        rc = ["-R", rc_file] if rc_file else []
        return ["siege", *rc, "-c", c, "-t", f"{d}S", *extra, url]
    if tool == "wrk":
        return ["wrk", "-t", str(threads), "-c", c, "-d", f"{d}s", "--latency", *extra, url]
    if tool == "k6":
        stats = ["--summary-trend-stats", "avg,min,med,max,p(90),p(99)", "--summary-export", summary]
        return [
            "k6",
            "run",
            "--quiet",
            "--no-color",
            "--vus",
            c,
            "--duration",
            f"{d}s",
            *stats,
            *extra,
            script,
        ]
    raise ValueError(tool)


def parse(tool: str, text: str) -> LoadResult:
    return {"siege": parse_siege, "wrk": parse_wrk, "k6": parse_k6}[tool](text)


def parse_siege(text: str) -> LoadResult:
    """siege 4 prints its summary as a JSON object (after any error lines)."""
    start = text.rfind("{")
    try:
        data = json.loads(text[start:])
    except ValueError:
        raise ParseError(f"siege: no JSON summary in its output ({_last_line(text)})") from None
    transactions = int(data["transactions"])
    failed = int(data["failed_transactions"])
    successful = int(data["successful_transactions"])
    return LoadResult(
        tool="siege",
        requests=transactions,
        rate=float(data["transaction_rate"]),
        # siege counts 4xx/5xx answers as transactions that are not successful (its two counters
        # can also differ by one the other way at the end of a timed run).
        failures=failed + max(0, transactions - successful),
        elapsed=float(data["elapsed_time"]),
        availability=float(data["availability"]),
        mean_ms=float(data["response_time"]) * 1000,
    )


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _ms(value: str) -> float:
    m = re.fullmatch(r"([0-9.]+)(us|ms|s|m)", value)
    if not m:
        raise ParseError(f"wrk: unexpected latency {value!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


def parse_wrk(text: str) -> LoadResult:
    """wrk --latency: requests, duration, Requests/sec, the latency distribution and errors."""
    total = re.search(r"^\s*(\d+) requests in ([0-9.]+)(us|ms|s|m),", text, re.M)
    rate = re.search(r"^Requests/sec:\s+([0-9.]+)", text, re.M)
    if not total or not rate:
        raise ParseError(f"wrk: no summary in its output ({_last_line(text)})")
    requests = int(total.group(1))
    failures = 0
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    if non2xx:
        failures += int(non2xx.group(1))
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if errors:
        failures += sum(int(g) for g in errors.groups())
    dist = dict(re.findall(r"^\s+(50|75|90|99)%\s+(\S+)", text, re.M))
    mean = re.search(r"^\s+Latency\s+(\S+)", text, re.M)
    return LoadResult(
        tool="wrk",
        requests=requests,
        rate=float(rate.group(1)),
        failures=failures,
        elapsed=_ms(total.group(2) + total.group(3)) / 1000,
        availability=100.0 * (requests - min(failures, requests)) / requests if requests else 0.0,
        p50_ms=_ms(dist["50"]) if "50" in dist else None,
        p90_ms=_ms(dist["90"]) if "90" in dist else None,
        p99_ms=_ms(dist["99"]) if "99" in dist else None,
        mean_ms=_ms(mean.group(1)) if mean else None,
    )


def parse_k6(text: str) -> LoadResult:
    """k6 --summary-export JSON: http_reqs, http_req_duration trend, http_req_failed rate."""
    try:
        metrics = json.loads(text)["metrics"]
        reqs = metrics["http_reqs"]
    except (ValueError, KeyError):
        raise ParseError(f"k6: no http_reqs in its summary ({_last_line(text)})") from None
    duration = metrics.get("http_req_duration", {})
    failed_rate = float(metrics.get("http_req_failed", {}).get("value", 0.0))
    count = int(reqs["count"])
    failures = round(failed_rate * count)
    return LoadResult(
        tool="k6",
        requests=count,
        rate=float(reqs["rate"]),
        failures=failures,
        elapsed=count / float(reqs["rate"]) if reqs.get("rate") else None,
        availability=100.0 * (1 - failed_rate) if count else 0.0,
        p50_ms=duration.get("med"),
        p90_ms=duration.get("p(90)"),
        p99_ms=duration.get("p(99)"),
        mean_ms=duration.get("avg"),
    )


def combine(results: list[LoadResult]) -> LoadResult:
    """Load processes that ran at once (N siege processes, several generators): rates add up;
    latencies are the request-weighted mean of each process's figure (an approximation)."""
    if len(results) == 1:
        return results[0]
    requests = sum(r.requests for r in results)

    def weighted(attr: str) -> float | None:
        pairs = [(getattr(r, attr), r.requests) for r in results if getattr(r, attr) is not None]
        if not pairs or not requests:
            return None
        return sum(v * n for v, n in pairs) / max(1, sum(n for _, n in pairs))

    failures = sum(r.failures for r in results)
    return LoadResult(
        tool=results[0].tool,
        requests=requests,
        rate=sum(r.rate for r in results),
        failures=failures,
        elapsed=max((r.elapsed or 0.0) for r in results),
        availability=100.0 * (requests - min(failures, requests)) / requests if requests else 0.0,
        p50_ms=weighted("p50_ms"),
        p90_ms=weighted("p90_ms"),
        p99_ms=weighted("p99_ms"),
        mean_ms=weighted("mean_ms"),
    )


def _last_line(text: str) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1][:200] if lines else "no output"
