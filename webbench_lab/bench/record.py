"""One typed record per case: what case.json (and each row of summary.json) holds.

The runner fills it, bench/results.py is the only writer, and the report, the overhead benchmark
and the tests read it back with `CaseRecord.from_json`. The JSON is flat (the figures and the
resources sit beside the case's fields, as summary.csv lists them) and carries `schema`: a file of
another schema is refused with one line rather than misread. Fields added since schema 1 began
(cpus_asked, server_cpus, oversubscribed, the CPU per request) are optional: a case.json without
them reads as None (unknown), so the schema stays 1.

`Aggregate` is a case over its repeats (`aggregate(records)`): each figure's mean, 95% interval,
relative standard deviation and n (bench/stats.py), the aggregated rows of summary.json/csv and
what the report's tables show.
"""

from __future__ import annotations

import calendar
import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any

from webbench_lab.bench.generators import GeneratorRecord, any_bound, judge
from webbench_lab.bench.loadtools import LoadResult
from webbench_lab.bench.stats import Stat, summarize
from webbench_lab.errors import UserError

SCHEMA_VERSION = 1
SAMPLES_SLACK = 2  # a host may give this many samples fewer than the measurement's seconds


STAMP = "%Y-%m-%dT%H:%M:%SZ"  # how the runner writes a record's and a manifest's times (UTC)


def stamp_seconds(stamp: str) -> float:
    """Seconds since the epoch of such a time (ValueError when it is not one)."""
    return float(calendar.timegm(time.strptime(stamp, STAMP)))


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


def host_load(sample: dict[str, Any]) -> float:
    """A host's CPU% in one sample: its own work (own_cpu_pct: its processes and its CPUs'
    interrupts), not what other tenants ran on the same CPUs, and never more than the CPUs' total
    (host_cpu_pct): a kernel without IRQ time accounting charges an interrupt both to the process
    it interrupted and to the CPU's interrupt time, so the sum can count it twice. Samplers older
    than own_cpu_pct recorded only the CPUs' total."""
    host = float(sample["host_cpu_pct"])
    own = sample.get("own_cpu_pct")
    return host if own is None else min(float(own), host)


def _others(samples: list[dict[str, Any]]) -> list[float]:
    """Other tenants' share of the host's CPUs per sample, where the sampler told both apart."""
    return [
        float(s["host_cpu_pct"]) - host_load(s)
        for s in samples
        if s.get("own_cpu_pct") is not None and s.get("host_cpu_pct") is not None
    ]


@dataclass
class Resources:
    """Both hosts during the measurement, from the once-a-second samples. A host that gave fewer
    samples than the measurement's seconds (minus SAMPLES_SLACK) makes `samples_missing`, and the
    generator-bound flag is then unknown (None) unless a generator with all its samples was bound:
    a flag that could not be computed is never false. Each generator is judged on its own
    (bench/generators.py, `generators`): any bound makes the case bound."""

    server_cpu_pct: float | None
    server_app_cpu_pct: float | None
    server_rss_mb: float | None
    server_rss_mean_mb: float | None
    generator_cpu_pct: float | None
    generator_bound: bool | None
    samples: dict[str, int]
    samples_missing: bool | None = None  # None: not checked (no expectation given)
    # CPU seconds the server used during the measurement: the host's own work on its CPUs
    # (host_load x cpus of each sample), and the system's own processes (proc_cpu_pct); mean x seconds.
    server_cpu_s: float | None = None
    server_app_cpu_s: float | None = None
    # The same per successful request, in microseconds (add_cost): comparable across machines where
    # rates are not; with a connection per request, the host's figure includes TCP setup and
    # teardown in the kernel, the app's does not.
    server_cpu_us_per_req: float | None = None
    server_app_cpu_us_per_req: float | None = None
    # What other tenants of the machine ran on each host's CPUs meanwhile (host_cpu_pct minus
    # own_cpu_pct): on a local lab the hosts share the machine's CPUs, and a tenant's work slows
    # the lab's through shared caches even where the scheduler gives the lab priority.
    server_others_cpu_pct: float | None = None
    generator_others_cpu_pct: float | None = None
    # The local lab's keeper (locallab/keeper.py) on the server's CPUs: the lab's own, not another
    # tenant's, so it is taken out of server_others_cpu_pct and kept here.
    server_keeper_cpu_pct: float | None = None
    # Each generator on its own (bench/generators.py): its CPU, who shares its CPUs, its verdict.
    # None in a case.json written before several generators were judged one by one.
    generators: list[GeneratorRecord] | None = None

    @classmethod
    def from_samples(
        cls,
        samples: dict[str, list[dict[str, Any]]],
        seconds: int | None = None,
        hosts: list[str] | None = None,
        cpusets: dict[str, str | None] | None = None,
    ) -> Resources:
        """`hosts`: the samplers that should have run ("server", "generator:<name>"), each for
        `seconds`; `cpusets`: each generator's CPU list by name (the inventory's), to tell which
        generators share CPUs."""
        server = samples.get("server", [])
        generators = [s for k, v in samples.items() if k.startswith("generator") for s in v]
        gen_cpu = [host_load(s) for s in generators]
        rss = [s["rss_kb"] for s in server]
        gen_mean = _mean(gen_cpu)
        missing = None
        expected = None
        if seconds is not None and hosts is not None:
            expected = seconds - SAMPLES_SLACK
            missing = any(len(samples.get(h, [])) < expected for h in hosts)
        names = [k for k in [*samples, *(hosts or [])] if k.startswith("generator")]
        loads = {_generator(k): [host_load(s) for s in samples.get(k, [])] for k in dict.fromkeys(names)}
        each = judge(loads, cpusets or {}, expected)
        bound = any_bound(each, missing)
        cpu_s = app_s = None
        if server and seconds is not None and not missing:
            host = [host_load(s) * s.get("cpus", 1) / 100.0 for s in server]
            cpu_s = round(sum(host) / len(host) * seconds, 3)
            app_s = round(sum(s["proc_cpu_pct"] for s in server) / len(server) / 100.0 * seconds, 3)
        return cls(
            server_cpu_pct=_mean([host_load(s) for s in server]),
            server_app_cpu_pct=_mean([s["proc_cpu_pct"] for s in server]),
            server_rss_mb=round(max(rss) / 1024, 1) if rss else None,
            server_rss_mean_mb=round(sum(rss) / len(rss) / 1024, 1) if rss else None,
            generator_cpu_pct=gen_mean,
            generator_bound=bound,
            samples={k: len(v) for k, v in samples.items()},
            samples_missing=missing,
            server_cpu_s=cpu_s,
            server_app_cpu_s=app_s,
            server_others_cpu_pct=_mean(_others(server)),
            generator_others_cpu_pct=_mean(_others(generators)),
            generators=each,
        )

    def exclude_keeper(self, pct: float | None) -> None:
        """Take the keeper's share of the server's CPUs (percent, None: unknown) out of the other
        tenants' figure, where the sampler told tenants apart at all."""
        if pct is None:
            return
        self.server_keeper_cpu_pct = round(pct, 1)
        if self.server_others_cpu_pct is not None:
            self.server_others_cpu_pct = round(max(0.0, self.server_others_cpu_pct - pct), 1)

    def add_cost(self, requests: int) -> None:
        """CPU per request (µs) from the CPU seconds; None when no request succeeded or the CPU
        is unknown (samples missing)."""
        self.server_cpu_us_per_req = _per_request(self.server_cpu_s, requests)
        self.server_app_cpu_us_per_req = _per_request(self.server_app_cpu_s, requests)


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
    # The server's calibration just before the idle check (suite's `calibrate`; appctl calibrate):
    # fixed work timed in CPU time, the machine's speed at this case's time.
    calibration: dict[str, Any] | None = None
    # CPUs the system keeps busy at this level (its process model: GOMAXPROCS, processes or
    # workers, nginx's worker too when fronted), the server's CPUs, and whether the first exceeds
    # the second: the level then adds processes, not CPU (None: unknown).
    cpus_asked: int | None = None
    server_cpus: int | None = None
    oversubscribed: bool | None = None
    # The rate as a share of the generator's ceiling at this concurrency (bench/ceiling.py), and
    # whether it reached CEILING_SHARE (it then makes the case generator-bound); None: no ceiling.
    ceiling_share: float | None = None
    near_ceiling: bool | None = None
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

    def value(self, key: str) -> float | None:
        """A figure (rate, latencies) or a resource (CPU, memory, CPU per request); None if none."""
        for part in (self.figures, self.resources):
            if part is not None and hasattr(part, key):
                value = getattr(part, key)
                return None if value is None else float(value)
        return None

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
            resources = Resources(**_pick(data, Resources))
            if resources.generators is not None:
                resources.generators = [GeneratorRecord.from_json(g) for g in data["generators"]]
            kwargs["resources"] = resources
        return cls(**kwargs)


# The figures an aggregate gives the statistics of (each over the ok repeats that have it).
AGGREGATED = (
    "rate", "availability", "p50_ms", "p90_ms", "p99_ms", "mean_ms", "server_cpu_pct",
    "server_app_cpu_pct", "server_rss_mb", "generator_cpu_pct", "server_cpu_us_per_req",
    "server_app_cpu_us_per_req",
)  # fmt: skip


@dataclass
class Aggregate:
    """A case (system, level, scenario) over its repeats: `stats` of each figure of AGGREGATED over
    the repeats with status ok (`n` of them, of `repeats` run; `failed`: the others), and the
    flags of any of them (generator_bound: True if any was, None if any ok one is unknown)."""

    case: str  # <system>-L<level>-<scenario>, the repeats' key without -r<n>
    system: str
    level: int
    scenario: str
    endpoint: str
    status: str  # ok when any repeat is, else the first repeat's status
    repeats: int
    n: int
    failed: int
    stats: dict[str, Stat]
    generator_bound: bool | None
    samples_missing: bool | None
    retried: bool
    oversubscribed: bool | None
    cpus_asked: int | None
    server_cpus: int | None
    load_tool: str | None
    concurrency: int | None
    duration_s: int | None
    rates: list[float] = field(default_factory=list)  # each ok repeat's, for ratios

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def rate(self) -> Stat:
        return self.stats["rate"]

    def to_json(self) -> dict[str, Any]:
        """Flat, like a repeat's row: each figure's mean under its own name, then <figure>_ci95,
        _ci95_pct, _rsd_pct and _n."""
        data: dict[str, Any] = {"row": "aggregate"}
        for f in dataclasses.fields(self):
            if f.name not in ("stats", "rates"):  # rates: the repeats' own rows have them
                data[f.name] = getattr(self, f.name)
        for key, stat in self.stats.items():
            data.update(stat.as_dict(f"{key}_"))
            data[key] = data.pop(f"{key}_mean")
        return data


def aggregate(records: list[CaseRecord]) -> list[Aggregate]:
    """One Aggregate per case (system, level, scenario), in the order of their first repeat."""
    groups: dict[tuple[str, int, str], list[CaseRecord]] = {}
    for r in records:
        groups.setdefault((r.system, r.level, r.scenario), []).append(r)
    out = []
    for rows in groups.values():
        ok = [r for r in rows if r.ok]
        first = rows[0]
        stats = {}
        for key in AGGREGATED:
            stats[key] = summarize(v for r in ok if (v := r.value(key)) is not None)
        bound: bool | None = any(r.generator_bound for r in ok)
        if not bound and any(r.generator_bound is None for r in ok):
            bound = None
        flags = [r.resources.samples_missing if r.resources else None for r in ok]
        missing = True if any(flags) else None if None in flags or not flags else False
        out.append(
            Aggregate(
                case=first.case.rpartition("-r")[0], system=first.system, level=first.level,
                scenario=first.scenario, endpoint=first.endpoint,
                status="ok" if ok else first.status, repeats=len(rows), n=len(ok),
                failed=len(rows) - len(ok), stats=stats, generator_bound=bound,
                samples_missing=missing,
                retried=any(r.retried for r in ok), oversubscribed=first.oversubscribed,
                cpus_asked=first.cpus_asked, server_cpus=first.server_cpus,
                load_tool=(ok or rows)[0].load_tool, concurrency=(ok or rows)[0].concurrency,
                duration_s=(ok or rows)[0].duration_s,
                rates=[v for r in ok if (v := r.value("rate")) is not None],
            )
        )  # fmt: skip
    return out


def _generator(key: str) -> str:
    """A generator's name from its samples' key ("generator:<name>"; older records: "generator")."""
    return key.partition(":")[2] or key


def _per_request(cpu_s: float | None, requests: int) -> float | None:
    return None if cpu_s is None or not requests else round(cpu_s / requests * 1e6, 2)


def _pick(data: dict[str, Any], cls: type[Any]) -> dict[str, Any]:
    """The fields of dataclass `cls` from a flat record (None where a field is absent)."""
    return {f.name: data.get(f.name) for f in dataclasses.fields(cls)}


def _round(v: float | None, digits: int = 3) -> float | None:
    return None if v is None else round(v, digits)


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 2) if values else None
