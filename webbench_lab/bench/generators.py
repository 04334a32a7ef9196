"""Several generators, each judged on its own: a case is generator-bound when any generator was
busy enough to have been the limit, not when their average was (one saturated generator among idle
ones still capped the rate).

On a machine with fewer cores than hosts the generators share CPUs (`lab up --generators 2` on two
cores puts both on CPU 0). Each then reads only its own share of the CPUs it is pinned to: two at
50% each left CPU 0 no time at all. So a generator whose CPUs overlap another's is judged on the
sharing generators' own loads added (`shared_cpu_pct`), and the manifest lists which hosts share
which CPUs (`shared_cpus`, locallab/cpusets.py: `lab up` says the same).

record.py (the case record) builds on this module (GeneratorRecord is one of its fields), not the
other way round: the loads come in as plain numbers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from webbench_lab.locallab.cpusets import cpus_of

GENERATOR_BOUND_PCT = 90.0  # a generator this busy may have been the limit, not the server


@dataclass
class GeneratorRecord:
    """One generator during a measurement: its own load (the mean of record.host_load over its
    samples), whether it gave too few samples, who shares its CPUs, and its verdict."""

    name: str
    cpus: str | None  # its CPU list (the inventory's lab_cpus); None: unknown, shares with none
    cpu_pct: float | None  # its own load's mean; None: no sample
    samples: int
    samples_missing: bool | None = None  # None: not checked (no expectation given)
    shared_with: list[str] = field(default_factory=list)  # the other generators on its CPUs
    # The sharing generators' own loads added, on the CPUs they share (None: not shared, or one
    # of them unknown); what the generator is judged on when it shares.
    shared_cpu_pct: float | None = None
    bound: bool | None = None  # None: unknown (no samples, too few, or a sharer's unknown)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> GeneratorRecord:
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})


def sharing_cpus(cpusets: Mapping[str, str | None]) -> list[list[str]]:
    """Groups of two or more hosts whose CPU sets overlap, directly or through another member, in
    the mapping's order (a host of unknown CPUs shares with none)."""
    order = list(cpusets)
    groups: list[tuple[set[str], set[int]]] = []
    for name in order:
        names, cpus = {name}, cpus_of(cpusets[name])
        if not cpus:
            continue
        apart = []
        for other_names, other_cpus in groups:
            if other_cpus & cpus:
                names |= other_names
                cpus |= other_cpus
            else:
                apart.append((other_names, other_cpus))
        groups = [*apart, (names, cpus)]
    found = [sorted(names, key=order.index) for names, _ in groups if len(names) > 1]
    return sorted(found, key=lambda g: order.index(g[0]))


def judge(
    loads: Mapping[str, Sequence[float]],
    cpusets: Mapping[str, str | None],
    expected: int | None = None,
) -> list[GeneratorRecord]:
    """Each generator's record from its own loads (one per sample): too few samples when fewer
    than `expected` (None: not checked); bound when its load, or with sharers their loads added,
    reached GENERATOR_BOUND_PCT."""
    records: dict[str, GeneratorRecord] = {}
    for name, values in loads.items():
        missing = None if expected is None else len(values) < expected
        records[name] = GeneratorRecord(
            name, cpusets.get(name), _mean(list(values)), len(values), samples_missing=missing
        )
    for group in sharing_cpus({name: r.cpus for name, r in records.items()}):
        added = _added([records[name] for name in group])
        for name in group:
            records[name].shared_with = [n for n in group if n != name]
            records[name].shared_cpu_pct = added
    for r in records.values():
        load = r.shared_cpu_pct if r.shared_with else r.cpu_pct
        r.bound = None if load is None or r.samples_missing else load >= GENERATOR_BOUND_PCT
    return list(records.values())


def _added(group: list[GeneratorRecord]) -> float | None:
    """The group's own loads on the union of their CPUs: each load counted in cores, the sum as a
    share of the union (two at 50% of CPU 0: 100%). Never above 100%: each load includes its CPUs'
    interrupt time, which sharers of a CPU both count."""
    union: set[int] = set()
    cores = 0.0
    for r in group:
        cpus = cpus_of(r.cpus)
        if r.cpu_pct is None:
            return None
        union |= cpus
        cores += r.cpu_pct * len(cpus) / 100.0
    return round(min(100.0, 100.0 * cores / len(union)), 2)


def any_bound(records: Sequence[GeneratorRecord], samples_missing: bool | None = None) -> bool | None:
    """The case's verdict: bound when any generator was; else unknown (None) when any generator's
    verdict is, when a host's samples are missing, or when there is no generator; else not bound.
    A flag that could not be computed is never false."""
    if any(r.bound for r in records):
        return True
    if not records or samples_missing or any(r.bound is None for r in records):
        return None
    return False


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 2) if values else None
