"""One typed record per case: what case.json (and each row of summary.json) holds.

The runner fills it, bench/results.py is the only writer, and the report, the overhead benchmark
and the tests read it back with `CaseRecord.from_json`. The JSON is flat (the figures and the
resources sit beside the case's fields, as summary.csv lists them) and carries `schema`: a file of
another schema is refused with one line rather than misread.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from webbench_lab.bench.loadtools import LoadResult
from webbench_lab.errors import UserError

SCHEMA_VERSION = 1
GENERATOR_BOUND_PCT = 90.0  # a generator this busy may have been the limit, not the server
SAMPLES_SLACK = 2  # a host may give this many samples fewer than the measurement's seconds


@dataclass
class AttemptRecord:
    """One warm-up plus measurement of a case. `outcome`: completed, interrupted (the tool needed
    SIGINT and printed its figures) or hung (killed, measured again)."""

    attempt: int
    started: str
    ended: str
    outcome: str
    reason: str
    load: dict[str, str]  # "<host>-<tool>-<n>": exited | interrupted | killed
    warmup: dict[str, str] | None
    raw_outputs: list[str]
    samples: list[str]
    generator_cpu_pct: float | None
    server_cpu_pct: float | None
    quiet_before: dict[str, Any] | None = None  # the server's CPU before a retry


@dataclass
class Figures:
    """The load's figures, all processes of all generators combined."""

    rate: float
    requests: int
    failures: int
    availability: float | None
    p50_ms: float | None
    p90_ms: float | None
    p99_ms: float | None
    mean_ms: float | None
    bytes_received: int | None

    @classmethod
    def from_result(cls, r: LoadResult) -> Figures:
        return cls(
            rate=round(r.rate, 2),
            requests=r.requests,
            failures=r.failures,
            availability=_round(r.availability, 2),
            p50_ms=_round(r.p50_ms),
            p90_ms=_round(r.p90_ms),
            p99_ms=_round(r.p99_ms),
            mean_ms=_round(r.mean_ms),
            bytes_received=r.bytes_received,
        )


@dataclass
class Resources:
    """Both hosts during the measurement, from the once-a-second samples. A host that gave fewer
    samples than the measurement's seconds (minus SAMPLES_SLACK) makes `samples_missing`, and the
    generator-bound flag is then unknown (None): a flag that could not be computed is never false."""

    server_cpu_pct: float | None
    server_app_cpu_pct: float | None
    server_rss_mb: float | None
    server_rss_mean_mb: float | None
    generator_cpu_pct: float | None
    generator_bound: bool | None
    samples: dict[str, int]
    samples_missing: bool | None = None  # None: not checked (no expectation given)

    @classmethod
    def from_samples(
        cls,
        samples: dict[str, list[dict[str, Any]]],
        seconds: int | None = None,
        hosts: list[str] | None = None,
    ) -> Resources:
        """`hosts`: the samplers that should have run ("server", "generator:<name>"), each for
        `seconds`."""
        server = samples.get("server", [])
        gen_cpu = [s["host_cpu_pct"] for k, v in samples.items() if k.startswith("generator") for s in v]
        rss = [s["rss_kb"] for s in server]
        gen_mean = _mean(gen_cpu)
        missing = None
        if seconds is not None and hosts is not None:
            missing = any(len(samples.get(h, [])) < seconds - SAMPLES_SLACK for h in hosts)
        bound = None if gen_mean is None or missing else gen_mean >= GENERATOR_BOUND_PCT
        return cls(
            server_cpu_pct=_mean([s["host_cpu_pct"] for s in server]),
            server_app_cpu_pct=_mean([s["proc_cpu_pct"] for s in server]),
            server_rss_mb=round(max(rss) / 1024, 1) if rss else None,
            server_rss_mean_mb=round(sum(rss) / len(rss) / 1024, 1) if rss else None,
            generator_cpu_pct=gen_mean,
            generator_bound=bound,
            samples={k: len(v) for k, v in samples.items()},
            samples_missing=missing,
        )


@dataclass
class CaseRecord:
    """A case: ok (with figures), failed (with the reason) or not buildable."""

    case: str
    system: str
    level: int
    scenario: str
    endpoint: str
    repeat: int
    status: str
    reason: str = ""
    load_tool: str | None = None
    duration_s: int | None = None
    warmup_s: int | None = None
    concurrency: int | None = None
    timeout_s: int | None = None  # the request timeout the case asked for (k6 applies it)
    started: str | None = None
    ended: str | None = None
    load_interrupted: bool | None = None
    attempt: int | None = None  # the attempt whose figures count
    retried: bool = False
    attempts: list[AttemptRecord] = field(default_factory=list)
    raw_outputs: list[str] = field(default_factory=list)
    figures: Figures | None = None
    processes: list[dict[str, Any]] = field(default_factory=list)
    resources: Resources | None = None
    idle: dict[str, Any] | None = None  # the check before the case: server CPU, wait, what ran
    schema: int = SCHEMA_VERSION

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def rate(self) -> float | None:
        return self.figures.rate if self.figures else None

    @property
    def generator_bound(self) -> bool | None:
        return self.resources.generator_bound if self.resources else None

    def to_json(self) -> dict[str, Any]:
        """The flat JSON of case.json: the figures and resources beside the case's own fields."""
        data: dict[str, Any] = {"schema": self.schema}
        for f in dataclasses.fields(self):
            if f.name in ("schema", "figures", "resources"):
                continue
            value = getattr(self, f.name)
            if f.name == "attempts":
                value = [dataclasses.asdict(a) for a in value]
            data[f.name] = value
        for part in (self.figures, self.resources):
            if part is not None:
                data.update(dataclasses.asdict(part))
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any], where: str = "case.json") -> CaseRecord:
        schema = data.get("schema")
        if schema != SCHEMA_VERSION:
            raise UserError(
                f"{where}: case record schema {schema!r}; this webbench-lab reads schema {SCHEMA_VERSION}"
            )
        own = {f.name for f in dataclasses.fields(cls)} - {"figures", "resources", "attempts"}
        kwargs = {k: v for k, v in data.items() if k in own}
        kwargs["attempts"] = [AttemptRecord(**a) for a in data.get("attempts", [])]
        if "rate" in data:
            kwargs["figures"] = Figures(**_pick(data, Figures))
        if "samples" in data:
            kwargs["resources"] = Resources(**_pick(data, Resources))
        return cls(**kwargs)


def _pick(data: dict[str, Any], cls: type[Any]) -> dict[str, Any]:
    """The fields of dataclass `cls` from a flat record (None where a field is absent)."""
    return {f.name: data.get(f.name) for f in dataclasses.fields(cls)}


def _round(v: float | None, digits: int = 3) -> float | None:
    return None if v is None else round(v, digits)


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 2) if values else None
