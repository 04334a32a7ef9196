"""What a provisioning run did, per host, in a shape both engines fill and --json prints."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class HostResult:
    ops: int = 0
    changed: int = 0
    changed_ops: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    details: list[dict[str, str]] = field(default_factory=list)  # check mode: what, expected, found


@dataclass
class ProvisionResult:
    engine: str
    seconds: float = 0.0
    check: bool = False  # a dry run: `changed` counts what would change
    hosts: dict[str, HostResult] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(not h.failed for h in self.hosts.values())

    @property
    def changed(self) -> int:
        return sum(h.changed for h in self.hosts.values())

    def as_dict(self) -> dict:
        return {"ok": self.ok, "changed": self.changed, **asdict(self)}


def print_summary(result: ProvisionResult) -> None:
    from webbench_lab.ui import console

    for name, res in result.hosts.items():
        status = "[red]FAILED[/red]" if res.failed else "[green]ok[/green]"
        console.print(
            f"{name:16} {status}  {res.ops} operations, {res.changed} changed, {len(res.failed)} failed"
        )
        for failure in res.failed:
            console.print(f"  {failure}", markup=False)
    console.print(f"provisioned with {result.engine} in {result.seconds:.1f} s")


def print_check(result: ProvisionResult) -> None:
    from webbench_lab.ui import console

    for name, res in result.hosts.items():
        console.print(f"{name:16} {res.changed} of {res.ops} operations would change ({result.engine} check)")
        for item in res.details:
            line = f"  {item['what']}: found {item['found']}, expected {item['expected']}"
            console.print(line, markup=False)
        for failure in res.failed:
            console.print(f"  FAILED {failure}", markup=False)
