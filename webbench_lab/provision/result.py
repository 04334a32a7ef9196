"""What a provisioning run did, per host, in a shape both engines fill and --json prints."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class HostResult:
    ops: int = 0
    changed: int = 0
    changed_ops: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


@dataclass
class ProvisionResult:
    engine: str
    seconds: float = 0.0
    hosts: dict[str, HostResult] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(not h.failed for h in self.hosts.values())

    @property
    def changed(self) -> int:
        return sum(h.changed for h in self.hosts.values())

    def as_dict(self) -> dict:
        return {"ok": self.ok, "changed": self.changed, **asdict(self)}
