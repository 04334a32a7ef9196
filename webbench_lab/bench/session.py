"""One benchmark run on the lab: the results directory, the manifest, the runner with its progress
bar, the audit when it ends, and a clean end after Ctrl-C or a lost host."""

from __future__ import annotations

import contextlib
import os
import socket
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from webbench_lab.apps.lifecycle import Lab
from webbench_lab.audit import collect
from webbench_lab.bench import ceilingcache, htmlreport, report
from webbench_lab.bench.livereport import LiveReport
from webbench_lab.bench.plan import Case, Options, run_settings
from webbench_lab.bench.results import ResultsDir, default_root
from webbench_lab.bench.runner import QUICK_IDLE_WINDOW_S, Runner
from webbench_lab.bench.suites import Suite
from webbench_lab.errors import LabFailure, UserError
from webbench_lab.hosts.control import HostControl
from webbench_lab.hosts.guard import RunGuard, describe_dead_run
from webbench_lab.hosts.inventory import LabInventory, load_inventory
from webbench_lab.locallab import cpulimit, cpusets, keeper
from webbench_lab.ui import console, out


def execute(
    sources: Sequence[Path], suite: Suite, run_suite: Suite, opts: Options, cases: list[Case],
    root: str | None, resumed: ResultsDir | None = None, keep_services: bool = False,
    ceiling_max_age_s: float = ceilingcache.DEFAULT_MAX_AGE_S,
) -> int:  # fmt: skip
    """Run the cases; 0 when every case has its figure (or is not buildable), 1 otherwise, 130 on
    Ctrl-C. Every finished case is kept whatever happens. `resumed`: the directory of the run this
    one continues (`bench --resume`, bench/resume.py), instead of a new one; `cases` are its
    remaining cases. The services the run starts are stopped when it ends, unless `keep_services`.
    A ceiling an earlier run measured on the same lab and settings is reused while younger than
    `ceiling_max_age_s` (bench/ceilingcache.py; 0: measure every one)."""
    inventory = load_inventory(sources)
    run_id = _run_id()
    # The run's hold on the lab comes first: a second run is refused before it writes anything.
    guard = hold_lab(inventory, run_id)
    try:
        code = _run(
            inventory, suite, run_suite, opts, cases, root, resumed, guard, keep_services, ceiling_max_age_s
        )
    finally:
        guard.release_quietly()
    return code


def _run(
    inventory: LabInventory, suite: Suite, run_suite: Suite, opts: Options, cases: list[Case],
    root: str | None, resumed: ResultsDir | None, guard: LabHold, keep_services: bool = False,
    ceiling_max_age_s: float = ceilingcache.DEFAULT_MAX_AGE_S,
) -> int:  # fmt: skip
    results = resumed or _new_results(root, suite, run_suite)
    console.print(f"results: {results.path}")
    with Lab(inventory, keep_services=keep_services) as lab:
        runner = Runner(lab, run_suite, results, CaseProgress(len(cases)))
        runner.ceiling_max_age_s = ceiling_max_age_s
        if opts.quick:
            runner.idle_window = QUICK_IDLE_WINDOW_S
        for hc in runner.controls():
            hc.run_id = guard.run_id
        results.start_manifest(
            suite=run_suite.name,
            settings=_settings(run_suite, opts),
            planned_cases=[c.key for c in cases],
            inventory=_inventory_without_secrets(inventory),
            lab_commit=collect.git_commit(),
            run_id=guard.run_id,
            dead_runs=guard.dead_runs,
            server_cpu_limit=_server_cpu_limit(inventory),
            server_cpus_kept_awake=_kept_awake(inventory),
            shared_cpus=cpusets.shared_cpus({name: h.cpus for name, h in inventory.hosts.items()}),
        )
        live = LiveReport(results.path)
        results.after_case = live.kick
        try:
            with runner.progress:
                _ceilings(results, runner, cases)
                runner.run_rounds(cases)
                runner.progress.finish()
            ended = _end_services(lab)
            audited = _audit(results, lab)
        except KeyboardInterrupt:
            problems = runner.emergency_stop(run_suite.systems)
            _finish(
                results, run_suite, live, complete=False, interrupted=True, cleanup_problems=problems,
                **_end_services(lab), **_audit(results, lab), ended_by_guard=guard.release(),
            )  # fmt: skip
            console.print(
                f"webbench-lab: interrupted: load and systems stopped; finished cases kept in {results.path}",
                markup=False,
            )
            return 130
        except (LabFailure, UserError, OSError, EOFError) as exc:
            problems = []
            try:
                problems = runner.emergency_stop(run_suite.systems)
            except Exception as cleanup:  # the host may be gone: say so, keep the results
                problems.append(str(cleanup))
            _finish(
                results, run_suite, live, complete=False, error=str(exc), cleanup_problems=problems,
                **_end_services(lab), **_audit(results, lab), ended_by_guard=guard.release(),
            )  # fmt: skip
            console.print(
                f"webbench-lab: run stopped: {exc}; finished cases kept in {results.path}", markup=False
            )
            return 1
        finally:
            runner.close()
    _finish(results, run_suite, live, complete=True, **ended, **audited, ended_by_guard=guard.release())
    for table in report.rich_tables(run_suite, list(results.records.values())):
        out.print(table)
    out.print(report.FOOTNOTE)
    for line in report.lab_lines(results.manifest, list(results.records.values())):
        out.print(line, markup=False)
    out.print(f"results: {results.path}")
    out.print(f"report: {results.path / 'report.html'}")
    return 1 if runner.failed or results.failed_before else 0


def _ceilings(results: ResultsDir, runner: Runner, cases: list[Case]) -> None:
    """The generator's ceilings (bench/ceiling.py) into the manifest before the first case; a
    resume keeps those its run measured and measures only what is missing."""
    runner.ceilings = dict(results.manifest.get("generator_ceiling") or {})
    runner.restore_cpu_limit()
    if not cases:
        return
    results.manifest["generator_ceiling"] = runner.measure_ceilings(cases)
    results.write_json(results.path / "manifest.json", results.manifest)
    for key, found in runner.ceilings.items():
        rate = found.get("rate")
        reason = found.get("reason") or "no figure"
        text = f"{report.fmt_rate(rate)} req/s" if rate else f"not measured ({reason})"
        limited = ", generator not busy: a lower bound" if found.get("generator_limited") is False else ""
        reused = report.reused_text(found)
        runner.progress.bar.console.print(
            f"generator ceiling at {key}: {text}{limited}{f' ({reused})' if reused else ''}", markup=False
        )


def _server_cpu_limit(inventory: LabInventory) -> float | None:
    """The server's CPU time in cores where the inventory limits it (lab up --server-cpu)."""
    servers = inventory.group("server")
    return servers[0].cpu_limit if servers else None


def _kept_awake(inventory: LabInventory) -> list[int] | None:
    """The server's CPUs that the local lab's keeper holds awake (locallab/keeper.py); None for
    a server that is not a local one with a CPU limit, where no keeper belongs."""
    servers = inventory.group("server")
    if not servers or cpulimit.local_group(servers[0]) is None:
        return None
    return sorted(set(keeper.pids().values()))


def _run_id() -> str:
    return f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{uuid.uuid4().hex[:6]}"


class LabHold:
    """The run's guards on every host of the lab (hosts/guard.py), on connections of their own."""

    def __init__(self, inventory: LabInventory, run_id: str) -> None:
        hosts = sorted(inventory.hosts.values(), key=lambda h: "server" not in h.groups)
        self.run_id = run_id
        self.controls = [HostControl(h) for h in hosts]
        info = {
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "control_host": socket.gethostname(),
            "driver_pid": os.getpid(),
        }
        self.guard = RunGuard(self.controls, run_id, info)
        self.dead_runs: list[str] = []
        self._released: dict[str, list[str]] | None = None

    def acquire(self) -> None:
        try:
            first = self.guard.acquire()
        except BaseException:
            self._close()
            raise
        for host, answer in first.items():
            line = describe_dead_run(host, answer)
            if line:
                console.print(f"webbench-lab: {line}", markup=False)
                self.dead_runs.append(line)

    def release(self) -> dict[str, list[str]]:
        """End the hold (each guard ends what the run left, such as the services it started); what
        each host's guard ended, by name, for the manifest."""
        if self._released is None:
            last = self.guard.release()
            self._released = {
                host: sorted({p["name"] for p in answer.get("ended", [])})
                if answer.get("ok")
                else [f"guard: {answer.get('error')}"]
                for host, answer in last.items()
            }
            self._close()
        return self._released

    def release_quietly(self) -> None:
        with contextlib.suppress(Exception):
            self.release()

    def _close(self) -> None:
        for hc in self.controls:
            with contextlib.suppress(Exception):
                hc.close()


def hold_lab(inventory: LabInventory, run_id: str) -> LabHold:
    hold = LabHold(inventory, run_id)
    hold.acquire()
    return hold


def _new_results(root: str | None, suite: Suite, run_suite: Suite) -> ResultsDir:
    results = ResultsDir(Path(root) if root else default_root(), run_suite.name)
    assert suite.path is not None
    results.copy_suite(suite.path)
    return results


def _end_services(lab: Lab) -> dict[str, Any]:
    """The services the run started (Redis, the upstream API), stopped as it ends, before its audit,
    so the run leaves the lab as it found it; with --keep-services they keep running (started
    without the run's id: its guard leaves them). Those it found running are left as they were.
    For the manifest: {"services": {"started", "stopped", "kept"}} and any problem."""
    started = list(lab.started_services)
    if lab.keep_services:
        return {"services": {"started": started, "stopped": [], "kept": started}}
    try:
        stopped, problems = lab.stop_started_services()
    except Exception as exc:  # a lost host must not cost the results; the run's guard ends them
        stopped, problems = [], [f"services: {exc}"]
    ended: dict[str, Any] = {"services": {"started": started, "stopped": stopped, "kept": []}}
    if problems:
        ended["services"]["problems"] = problems
    return ended


def _audit(results: ResultsDir, lab: Lab) -> dict:
    """Which setup produced these numbers: the audit of every host, taken when the run ends (so it
    holds the binaries the run built and used); a host that cannot be audited is noted instead."""
    try:
        audit = collect.collect(lab.inventory, lab.controls())
        collect.write(audit, results.path)
    except Exception as exc:  # a lost host must not cost the results
        return {"audit_error": str(exc), "versions": None}
    console.print(f"audit of the hosts: {results.path / 'audit.md'}")
    return {"audit": "audit.json", "versions": versions(audit)}


def _finish(results: ResultsDir, suite, live: LiveReport, complete: bool, **fields) -> None:
    """The manifest's end, then both reports, once the last live render is done (never two
    writers of a report at once)."""
    results.after_case = None
    live.wait()
    results.finish_manifest(complete, **fields)
    text = report.markdown(suite, list(results.records.values()), results.manifest)
    results.write_text(results.path / "report.md", text)
    try:
        page = htmlreport.page(results.path, suite, list(results.records.values()), results.manifest)
    except Exception as exc:  # the figures are kept whatever the page's charts need
        console.print(
            f"webbench-lab: report.html not written ({type(exc).__name__}: {exc}); the results and "
            f"report.md are complete; `webbench-lab report {results.path}` writes it once that is fixed",
            markup=False,
        )
        return
    results.write_text(results.path / "report.html", page)


def _settings(suite, opts: Options) -> dict:
    return run_settings(suite, opts)  # in plan.py: `--resume` checks them too


def recorded_inventory(sources: Sequence[Path]) -> dict:
    """The inventory as a run's manifest records it (`bench --resume` checks it is the run's): its
    hosts, whatever sources they come from."""
    return _inventory_without_secrets(load_inventory(sources))


def _inventory_without_secrets(inventory: LabInventory) -> dict:
    """Hosts as the run used them; key files are named, never read; passwords never kept."""
    return {
        name: {"groups": list(h.groups), "address": h.address, "port": h.port, "user": h.user,
               "bench_address": h.bench_address, "cpus": h.cpus, "cpu_limit": h.cpu_limit,
               "become": h.become}
        for name, h in inventory.hosts.items()
    }  # fmt: skip


def versions(audit: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The versions a run used, for the manifest: a summary of the run's audit (audit.json holds
    everything), from the first generator and the first server."""
    hosts = audit["hosts"].values()
    gen: dict[str, Any] = next((h for h in hosts if "generator" in h["groups"]), {})
    srv: dict[str, Any] = next((h for h in hosts if "server" in h["groups"]), {})
    gen_tools, srv_tools = gen.get("tools") or {}, srv.get("tools") or {}
    nginx = srv_tools.get("nginx_V")
    return {
        "generator": {
            "siege": gen_tools.get("siege_version"),
            "siege_config": gen_tools.get("siege_config"),
            "wrk": gen_tools.get("wrk_version"),
            "k6": gen_tools.get("k6_version"),
        },
        "server": {
            "go": (srv.get("go") or {}).get("version"),
            "nginx": nginx.splitlines()[0] if nginx else None,
            "redis": (srv.get("packages") or {}).get("redis-server"),
            "python_stack": (srv.get("python") or {}).get("freeze"),
            "kernel": (srv.get("system") or {}).get("kernel"),
        },
    }


class CaseProgress:
    """A rich progress bar: current case, i of N, elapsed and ETA."""

    def __init__(self, total: int) -> None:
        self.bar = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), console=console,
        )  # fmt: skip
        self.task = self.bar.add_task("starting", total=total)
        self.done = -1

    def __enter__(self):
        self.bar.__enter__()
        return self

    def __exit__(self, *exc):
        self.bar.__exit__(*exc)

    def system(self, name: str, level: int) -> None:
        self.bar.update(self.task, description=f"{name} level {level}: start + verify")

    def case(self, case) -> None:
        self.done += 1
        self.bar.update(self.task, completed=self.done, description=f"{case.key}")

    def extend(self, cases: int) -> None:
        """An adaptive round adds `cases` to the bar."""
        task = next(t for t in self.bar.tasks if t.id == self.task)
        self.bar.update(self.task, total=(task.total or 0) + cases)

    def hung(self, case, attempt: int, attempts: int, reason: str) -> None:
        again = "measuring again" if attempt < attempts else "no attempt left"
        lost = f"attempt {attempt} of {attempts} did not count"
        self.bar.console.print(f"{case.key}: {lost}: {reason}; {again}")

    def finish(self) -> None:
        self.bar.update(self.task, completed=self.done + 1)
