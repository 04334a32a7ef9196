"""The load-tool seam: what a load process is asked to do (LoadSpec), how a tool runs it
(Invocation: argv, files, where its figures are) and the one typed result every parser returns."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

from webbench_lab.errors import LabFailure

DEFAULT_TIMEOUT_S = 60  # a request's timeout when the suite does not set one (k6's own default)


@dataclass
class LoadResult:
    """The figures of one load process; `None` where the tool does not give them.

    `rate` is successful requests (siege: transactions) per second: a request that failed, timed
    out or was answered with a status of 400 or more is not counted in it (it is in `failures`).
    With no request finished in time the rate is 0, which is a measurement, not an error."""

    tool: str
    requests: int  # every request with an outcome: answered, failed or timed out (see each parser)
    rate: float  # successful requests (transactions) per second
    failures: int  # errors, timeouts and answers >= 400
    elapsed: float | None = None
    availability: float | None = None  # percent, siege's own figure or derived
    p50_ms: float | None = None
    p90_ms: float | None = None
    p99_ms: float | None = None
    mean_ms: float | None = None
    bytes_received: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class ParseError(LabFailure):
    """The tool's output is not what its parser expects (the raw output is kept)."""


@dataclass(frozen=True)
class LoadSpec:
    """One load process of a case, as the runner asks for it on one generator."""

    url: str
    concurrency: int  # this process's share of the suite's users, connections or VUs
    seconds: int
    workdir: str  # the generator's directory for this run's files
    prefix: str  # a file-name prefix unique to this process
    settings: Mapping[str, Any] = field(default_factory=dict)  # the generator's host vars
    cpus: int = 1  # CPUs the generator may use
    timeout: int = DEFAULT_TIMEOUT_S  # seconds a request may take before it counts as failed


@dataclass(frozen=True)
class Invocation:
    """How a tool runs a LoadSpec: its argv, the files it needs in the workdir (name -> text), and
    where its figures are when they are not on its standard output (kept as `result_name`)."""

    argv: list[str]
    files: dict[str, str] = field(default_factory=dict)
    result_file: str | None = None
    result_name: str | None = None


class LoadTool(ABC):
    """A load generator: one module, one subclass, one entry in loadtools.TOOLS."""

    name: ClassVar[str]
    rate_unit: ClassVar[str]  # what `rate` counts: transactions or requests

    @abstractmethod
    def invocation(self, spec: LoadSpec) -> Invocation:
        """The command line and files of one load process."""

    @abstractmethod
    def parse(self, text: str) -> LoadResult:
        """The figures from the tool's output (or its result file); ParseError if there are none."""

    def overrun(self, spec: LoadSpec) -> float:
        """Seconds the tool may legitimately run past `spec.seconds` before it ends by itself (k6
        waits for the requests in flight); the runner interrupts it only after that."""
        return 0.0


def last_line(text: str) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1][:200] if lines else "no output"


_SIZE = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4}


def size_bytes(value: str) -> int:
    """wrk's sizes (173.90MB, 0.00B) in bytes."""
    m = re.fullmatch(r"([0-9.]+)(B|KB|MB|GB|TB)", value)
    if not m:
        raise ParseError(f"unexpected size {value!r}")
    return round(float(m.group(1)) * _SIZE[m.group(2)])


def combine(results: list[LoadResult]) -> LoadResult:
    """Load processes that ran at once (N siege processes, several generators): rates add up;
    latencies are the request-weighted mean of each process's figure (an approximation)."""
    if len(results) == 1:
        return results[0]
    requests = sum(r.requests for r in results)

    def weighted(attr: str) -> float | None:
        pairs: list[tuple[float, int]] = [
            (value, r.requests) for r in results if (value := getattr(r, attr)) is not None
        ]
        if not pairs or not requests:
            return None
        return sum(v * n for v, n in pairs) / max(1, sum(n for _, n in pairs))

    failures = sum(r.failures for r in results)
    sizes = [r.bytes_received for r in results]
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
        bytes_received=None if None in sizes else sum(s for s in sizes if s is not None),
    )
