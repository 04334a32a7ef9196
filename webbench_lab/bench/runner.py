"""The benchmark runner: for each case, start the system, verify it, warm up, measure with the load
tool from every generator at once, sample both hosts once a second, stop the system, and keep
everything in a new results directory. A load tool that hangs is killed and the case measured again.
"""

from __future__ import annotations

import contextlib
import io
import json
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from fabric import ThreadingGroup

from webbench_lab.agent.appctl import LaunchSpec, ProcessSpec, RunAnswer, RunSpec, cpu_list
from webbench_lab.apps.lifecycle import Lab
from webbench_lab.apps.systems import System, all_systems
from webbench_lab.apps.systems import get as get_system
from webbench_lab.apps.verify import NOT_BUILDABLE
from webbench_lab.bench import ceiling, ceilingcache, loadtools
from webbench_lab.bench.plan import Case, next_round, settings
from webbench_lab.bench.record import AttemptRecord, CaseRecord, Figures, Resources
from webbench_lab.bench.results import ResultsDir
from webbench_lab.bench.suites import Suite
from webbench_lab.errors import LabFailure, UserError
from webbench_lab.hosts.control import HostControl, as_root, read_answer, with_stdin
from webbench_lab.locallab import cpulimit, keeper

LOAD = "load"
SAMPLER = "sampler"
LOAD_GRACE_S = 5.0  # seconds a load tool may run past its duration before it gets SIGINT
LOAD_KILL_S = 5.0  # seconds after SIGINT before its process group gets SIGKILL (it hung)
QUIET_CPU_PCT = 10.0  # before a retry, the server's CPUs stay below this ...
QUIET_WINDOW_S = 1.0  # ... for this long ...
QUIET_TIMEOUT_S = 30.0  # ... or the retry starts anyway after this long (and says so)
IDLE_CPU_PCT = 5.0  # before a case, the server's CPUs stay below this ...
IDLE_WINDOW_S = 2.0  # ... for this long, within IDLE_TIMEOUT_S, or the case is not isolated
# A --quick run checks the lab and measures nothing: its idle checks prove the server quiet for one
# second (four of the agent's readings), not two; about a second less per case in `make test`.
QUICK_IDLE_WINDOW_S = 1.0
IDLE_TIMEOUT_S = 30.0


@dataclass
class LoadRun:
    """One load on every generator: (host, local path, text) per process, how each ended, and the
    connections each process was given (its share of the case's)."""

    outputs: list[tuple[str, Path, str]]
    ended: dict[str, str]  # "<host>-<tool>-<n>": exited | interrupted | killed
    interrupted: bool
    connections: list[int] = field(default_factory=list)


@dataclass
class Attempt:
    """One warm-up plus measurement of a case; `hung` when a load process had to be killed."""

    number: int
    outputs: list[tuple[str, Path, str]]
    resources: Resources
    hung: bool
    interrupted: bool
    reason: str
    record: AttemptRecord
    connections: list[int] = field(default_factory=list)  # per output, as LoadRun's


class Runner:
    """Runs the planned cases on the lab, one at a time, each on a freshly started system."""

    load_grace = LOAD_GRACE_S
    kill_after = LOAD_KILL_S
    quiet_threshold = QUIET_CPU_PCT
    quiet_window = QUIET_WINDOW_S
    quiet_timeout = QUIET_TIMEOUT_S
    idle_threshold = IDLE_CPU_PCT
    idle_window = IDLE_WINDOW_S
    idle_timeout = IDLE_TIMEOUT_S

    def __init__(self, lab: Lab, suite: Suite, results: ResultsDir, progress) -> None:
        self.lab = lab
        self.suite = suite
        self.results = results
        self.progress = progress
        # The lab's connection to the first generator serves here too; others get their own.
        others = [HostControl(h) for h in lab.inventory.group("generator")[1:]]
        self.generators = [lab.generator, *others]
        self._own = others
        self.failed = 0
        self._cpu_counts: dict[str, int] = {}
        self.ceilings: dict[str, dict[str, Any]] = {}  # the generator's ceiling per "c<concurrency>"
        # A ceiling of an earlier run on the same lab, tool and settings is reused while younger
        # than this (bench/ceilingcache.py); 0 measures every one (bench --ceiling-max-age).
        self.ceiling_max_age_s: float = ceilingcache.DEFAULT_MAX_AGE_S

    def close(self) -> None:
        for hc in self._own:
            hc.close()

    def controls(self) -> list[HostControl]:
        """Every connection the run uses (the lab's and the runner's own), each once."""
        found = {id(hc): hc for hc in [*self.lab.controls().values(), *self.generators]}
        return list(found.values())

    # -- the run ------------------------------------------------------------------------------

    def run_rounds(self, cases: list[Case]) -> None:
        """The planned cases (the min_repeats rounds, or what a resume has left of them and of the
        extra rounds), then round after round of extra repeats for the cases whose figure is not
        stable yet (plan.next_round, from every record so far: a resume recomputes where the
        adaptive repeats stand from the finished case.json files). Each extra round's cases are
        added to the manifest (`extra_cases`) before they run."""
        self.run(cases)
        while True:
            more = next_round(self.suite, list(self.results.records.values()))
            if not more:
                return
            self.results.add_extra_cases([c.key for c in more])
            extend = getattr(self.progress, "extend", None)
            if extend is not None:
                extend(len(more))
            self.run(more)

    def run(self, cases: list[Case]) -> None:
        """Each case on a system started for it alone and stopped after it: work a case leaves
        queued in the system (workers still computing) ends with it, never in the next case.
        Starting, verifying and stopping are not measured: on a local lab they run without the
        server's CPU limit (a Python system imports 4 times slower at a quarter core); the idle
        check and the measurement run with it."""
        unbuildable: dict[str, str] = {}
        for case in cases:
            system = get_system(case.system)
            self.progress.system(case.system, case.level)
            reason = unbuildable.get(system.name, "")
            log_files: list[tuple[str, int]] = []
            if not reason:
                with cpulimit.unlimited(self.lab.server.host):
                    reason, log_files = self._start_and_verify(system, case.level)
                if reason.startswith(f"start: {NOT_BUILDABLE}"):
                    unbuildable[system.name] = reason
            try:
                self.progress.case(case)
                if reason:
                    self._failed(case, reason)
                else:
                    self._measure(system, case)
            finally:
                if not reason or reason.startswith("verification"):
                    with cpulimit.unlimited(self.lab.server.host):
                        self._stop(system)
                self._keep_logs(self.results.case_dir(case), log_files)

    def _start_and_verify(self, system: System, level: int) -> tuple[str, list[tuple[str, int]]]:
        """'' when the system runs and answers right, else the reason its cases fail."""
        # Each case keeps what its own start added to the logs (appctl appends to the same files).
        logs = self._log_offsets(system.process_model.log_files(f"{self.lab.paths.run_root}/{system.name}"))
        try:
            self.lab.start(system, level)
        except (UserError, LabFailure) as exc:
            return f"start: {str(exc).removeprefix(f'system {system.name}: ')}", logs
        try:
            checks = self.lab.probe(system, level)
        except BaseException:  # a lost generator, Ctrl-C: the system it started does not stay up
            with contextlib.suppress(Exception):
                self._stop(system)
            raise
        failed = [c for c in checks if not c.ok]
        if failed:
            return f"verification: {failed[0].path}: {failed[0].detail}", logs
        return "", logs

    def _stop(self, system: System) -> None:
        self.lab.stop(system)

    def _failed(self, case: Case, reason: str) -> None:
        """A row that today's toolchain cannot build is reported as such and does not fail the run
        (like `verify`); any other reason does."""
        status = "not buildable" if reason.startswith(f"start: {NOT_BUILDABLE}") else "failed"
        if status == "failed":
            self.failed += 1
        self.results.write_case(CaseRecord(**self._case_fields(case), status=status, reason=reason))

    # -- one measurement ----------------------------------------------------------------------

    def _measure(self, system: System, case: Case) -> None:
        """Measure the case; a load tool that hung is killed and the whole attempt (warm-up and
        measurement) runs again from a quiet server, up to the suite's `load_attempts`."""
        suite = self.suite
        concurrency, duration, timeout = settings(suite, case)
        calibration = self._calibrate() if suite.calibrate else None
        idle = self._idle_check(system)
        if not idle["quiet"] or idle["running"]:
            self.failed += 1
            what = ", ".join(idle["running"]) or f"server CPU {idle['cpu_pct']}%"
            reason = f"not isolated: {what} after waiting {idle['waited_s']} s"
            self.results.write_case(
                CaseRecord(
                    **self._case_fields(case), status="not isolated", reason=reason, idle=idle,
                    calibration=calibration,
                )
            )  # fmt: skip
            return
        attempts = self._attempts(system, case)
        last = attempts[-1]
        record = CaseRecord(
            **self._case_fields(case, system),
            status="ok",
            load_tool=suite.load_tool,
            duration_s=duration,
            warmup_s=suite.warmup,
            concurrency=concurrency,
            timeout_s=timeout,
            started=attempts[0].record.started,
            ended=last.record.ended,
            load_interrupted=last.interrupted,
            attempt=None if last.hung else last.number,
            retried=len(attempts) > 1,
            attempts=[a.record for a in attempts],
            raw_outputs=[path.name for _, path, _ in last.outputs],
            resources=last.resources,
            idle=idle,
            calibration=calibration,
        )
        if last.hung:
            record.status = "failed"
            record.reason = f"{suite.load_tool} hung on every attempt ({len(attempts)}): {last.reason}"
        else:
            parsed, error = self._parse(last.outputs)
            if error:
                record.status = "failed"
                record.reason = error
            else:
                record.figures = Figures.from_result(loadtools.combine(parsed))
                record.processes = _processes(parsed, last)
                if record.resources is not None:
                    record.resources.add_cost(record.figures.requests)
                self._judge_by_ceiling(record)
        if not record.ok:
            self.failed += 1
        self.results.write_case(record)

    def _attempts(self, system: System, case: Case, out_dir: Path | None = None) -> list[Attempt]:
        """Attempts until one counts, up to the suite's `load_attempts`: a load tool that hung is
        killed, and one that printed nothing at all (siege 4.0.7 now and then exits without a
        word) is not a figure either; the whole attempt then runs again from a quiet server."""
        attempts: list[Attempt] = []
        total = self.suite.load_attempts
        for number in range(1, total + 1):
            quiet = self._wait_quiet() if number > 1 else None
            attempt = self._attempt(system, case, number, out_dir)
            attempt.record.quiet_before = quiet
            attempts.append(attempt)
            silent = [host for host, _, text in attempt.outputs if not text.strip()]
            if not attempt.hung and not (silent and not attempt.interrupted):
                break
            if not attempt.hung:
                attempt.record.reason = f"{', '.join(silent)}: {self.suite.load_tool} printed nothing"
            self.progress.hung(case, number, total, attempt.record.reason)
        return attempts

    def _keepers(self) -> list[int]:
        """The keepers of a local CPU-limited server's CPUs (none for real machines)."""
        return sorted(keeper.pids()) if cpulimit.local_group(self.lab.server.host) else []

    def _keeper_pct(self, keepers: list[int], before: float | None, seconds: float) -> float | None:
        """The keepers' share of the server's CPUs over `seconds` (percent; None: no keeper, or
        one ended meanwhile)."""
        after = keeper.cpu_seconds(keepers)
        cpus = self.lab.server.host.cpus
        if not keepers or before is None or after is None or seconds <= 0 or not cpus:
            return None
        return 100.0 * (after - before) / seconds / len(cpu_list(cpus))

    def _attempt(self, system: System, case: Case, number: int, out_dir: Path | None = None) -> Attempt:
        """One warm-up and one measurement, every file named by the attempt (in the case's
        directory, or `out_dir`)."""
        suite = self.suite
        duration = settings(suite, case)[1]
        case_dir = out_dir or self.results.case_dir(case)
        started = time.time()
        warmup = None
        if suite.warmup:
            warmup = self._load(system, case, suite.warmup, case_dir, None)
        keepers = self._keepers()
        kept_before, since = keeper.cpu_seconds(keepers), time.monotonic()
        samplers = self._start_samplers(system)
        try:
            load = self._load(system, case, duration, case_dir, number)
        finally:
            samples = self._stop_samplers(samplers, case_dir, number)
        kept = self._keeper_pct(keepers, kept_before, time.monotonic() - since)
        hung = [f"{name} ({how})" for name, how in load.ended.items() if how == "killed"]
        reason = (
            f"{', '.join(hung)} still running {self.load_grace:g} s after its {duration} s, "
            f"then {self.kill_after:g} s after SIGINT: killed"
            if hung
            else ""
        )
        resources = Resources.from_samples(samples, duration, self._sampled_hosts(), self._cpusets())
        resources.exclude_keeper(kept)
        record = AttemptRecord(
            attempt=number,
            started=_iso(started),
            ended=_iso(time.time()),
            outcome="hung" if hung else "interrupted" if load.interrupted else "completed",
            reason=reason,
            load=load.ended,
            warmup=None if warmup is None else warmup.ended,
            raw_outputs=[path.name for _, path, _ in load.outputs],
            samples=sorted(f"samples-{hc.host.name}.{_suffix(number)}.jsonl" for hc, _, _ in samplers),
            generator_cpu_pct=resources.generator_cpu_pct,
            server_cpu_pct=resources.server_cpu_pct,
        )
        return Attempt(
            number, load.outputs, resources, bool(hung), load.interrupted, reason, record, load.connections
        )

    def _parse(self, outputs: list[tuple[str, Path, str]]) -> tuple[list[loadtools.LoadResult], str]:
        """Every process's figures, and why there are none ('' when every output parsed)."""
        tool = loadtools.get(self.suite.load_tool)
        parsed, errors = [], []
        for host, path, text in outputs:
            try:
                parsed.append(tool.parse(text))
            except loadtools.ParseError as exc:
                errors.append(f"{host}: {exc} (raw output: {path.name})")
        return parsed, "; ".join(errors) or ("" if parsed else "no load output")

    def _judge_by_ceiling(self, record: CaseRecord) -> None:
        """The case's rate against its concurrency's ceiling: near it, the case is generator-bound
        whatever the generator's CPU said. A ceiling the generator did not reach is a lower bound:
        a case well below it was not near the generator's limit, one near it may have been
        (unknown, and so is generator_bound unless the CPU already says bound)."""
        top = self.ceilings.get(f"c{record.concurrency}")
        record.ceiling_share = ceiling.share(record.rate, top)
        if record.ceiling_share is None or top is None:
            return
        if record.ceiling_share < ceiling.CEILING_SHARE:
            record.near_ceiling = False
        else:
            record.near_ceiling = True if top.get("generator_limited") is True else None
        res = record.resources
        if res is not None and not res.generator_bound:
            if record.near_ceiling:
                res.generator_bound = True
            elif record.near_ceiling is None:
                res.generator_bound = None

    # -- the generator's ceiling --------------------------------------------------------------

    def measure_ceilings(self, cases: list[Case]) -> dict[str, dict[str, Any]]:
        """Before the cases: the load tool against the ceiling system, once per concurrency the
        cases use (bench/ceiling.py), each in ceiling/<c...>/ with its raw outputs and samples. A
        ceiling that cannot be measured is recorded with its reason; the cases then run without."""
        system = get_system(ceiling.SYSTEM)
        # A ceiling measured here is kept for later runs even when this run reuses none (max age 0).
        identity = ceilingcache.lab_identity(self.lab.inventory)
        sources = ceilingcache.sources_hash() if identity is not None else ""
        for target in ceiling.targets(self.suite, cases, system):
            if target.key in self.ceilings:
                continue
            fields = ceilingcache.key_fields(identity, self.suite, target, sources) if identity else None
            key = ceilingcache.cache_key(fields) if fields else ""
            reuse = key and self.ceiling_max_age_s > 0
            cached = ceilingcache.lookup(key, self.ceiling_max_age_s) if reuse else None
            if cached is not None:
                out_dir = self.results.new_subdir("ceiling", target.key)
                self.ceilings[target.key] = ceilingcache.reuse(cached, out_dir, self.results.path)
                continue
            self.progress.system(system.name, 1)
            # The ceiling measures the generator: on a local lab the server's CPU limit is lifted
            # meanwhile (the control machine owns the cgroup), so that the cheap target is not
            # what limits; on a real machine a ceiling the generator did not reach says so.
            with cpulimit.unlimited(self.lab.server.host) as unlimited:
                found = self._ceiling(system, target)
            self.ceilings[target.key] = {**found, "server_unlimited": unlimited}
            if fields:
                ceilingcache.store(key, fields, self.ceilings[target.key], self.results.path)
        return self.ceilings

    def restore_cpu_limit(self) -> None:
        """A run starts from the inventory's CPU limit (a driver that died while a ceiling or a
        build ran unlimited left it lifted, or a build or a provisioning run left a local host's
        cpuset widened)."""
        for host in self.lab.inventory.hosts.values():
            cpulimit.restore(host)

    def _ceiling(self, system: System, target: ceiling.Target) -> dict[str, Any]:
        out_dir = self.results.new_subdir("ceiling", target.key)
        reason, log_files = self._start_and_verify(system, 1)
        try:
            if reason:
                return ceiling.summary(target, None, Resources.from_samples({}), reason)
            idle = self._idle_check(system)
            attempt = self._attempts(system, target.case(), out_dir)[-1]
            parsed, error = self._parse(attempt.outputs)
            if error:
                return ceiling.summary(target, None, attempt.resources, error)
            figures = Figures.from_result(loadtools.combine(parsed))
            found = ceiling.summary(target, figures, attempt.resources, attempt.reason)
            return {**found, "idle": idle, "dir": str(out_dir.relative_to(self.results.path))}
        finally:
            if not reason or reason.startswith("verification"):
                self._stop(system)
            self._keep_logs(out_dir, log_files)

    def _calibrate(self) -> dict[str, Any]:
        """The server's calibration loads (appctl calibrate), right before the idle check, which
        then proves the server quiet again. A calibration that fails is recorded as such: it is
        a reference beside the figure, not a condition of it."""
        try:
            answer = dict(self.lab.server.calibrate())
        except LabFailure as exc:
            return {"error": str(exc)}
        answer.pop("ok", None)
        return answer

    def _idle_check(self, system: System) -> dict[str, Any]:
        """Before a case: the server's CPUs idle (a bounded wait) and nothing of the lab running on
        either host but this system and the services it uses (no other system, load or sampler)."""
        quiet = self._quiet(self.idle_threshold, self.idle_window, self.idle_timeout)
        return {**quiet, "running": self._leftovers(system)}

    def _leftovers(self, system: System) -> list[str]:
        """What of the lab runs that should not: '<host>: <name>' for each."""
        names = list(all_systems())
        server = [n for n in names if n != system.name] + [f"{SAMPLER}-{n}" for n in names]
        found = [
            f"{self.lab.server.host.name}: {name}"
            for name, st in self.lab.server.status(*server)["systems"].items()
            if st["running"] or st["processes"]
        ]
        for hc in self.generators:
            statuses = hc.status(LOAD, f"{SAMPLER}-{LOAD}")["systems"]
            found += [
                f"{hc.host.name}: {name}" for name, st in statuses.items() if st["running"] or st["processes"]
            ]
        return found

    def _wait_quiet(self) -> dict[str, Any]:
        """Before a retry: wait until the server's CPUs are idle (a hung attempt may have left the
        system with a backlog); what was seen is recorded, a server that stays busy is not hidden."""
        return self._quiet(self.quiet_threshold, self.quiet_window, self.quiet_timeout)

    def _quiet(self, threshold: float, window: float, timeout: float) -> dict[str, Any]:
        """The server's CPUs below `threshold`% for `window` s (waiting at most `timeout` s): what
        the agent saw, for the record."""
        answer = self.lab.server.quiet(threshold, window, timeout)
        seen = {
            "quiet": answer["quiet"], "cpu_pct": answer["cpu_pct"], "waited_s": answer["waited_s"],
            "window_s": window,
        }  # fmt: skip
        if "machine_cpu_pct" in answer:
            seen["machine_cpu_pct"] = answer["machine_cpu_pct"]
        return seen

    def _load(self, system: System, case: Case, seconds: int, out_dir: Path, attempt: int | None) -> LoadRun:
        """Run the load from every generator at once. With an attempt number, every process's raw
        output (and its result file, if the tool writes one) is kept in out_dir, named by the
        attempt; without one (the warm-up), none is."""
        tool = loadtools.get(self.suite.load_tool)
        concurrency, _, timeout = settings(self.suite, case)
        overrun = 0.0  # what the tool may run past `seconds` by itself (k6: its gracefulStop)
        ports = system.load_ports(case.level)
        address = self.lab.server.host.bench_address
        n_gen = len(self.generators)
        run_id = uuid.uuid4().hex[:8]
        specs: list[RunSpec] = []
        invocations: list[list[loadtools.Invocation]] = []
        connections: list[int] = []  # per process, in the order of the outputs
        for g_index, hc in enumerate(self.generators):
            workdir = _workdir(hc)
            processes: list[ProcessSpec] = []
            files: dict[str, str] = {}
            mine: list[loadtools.Invocation] = []
            for p_index, port in enumerate(ports):
                # The connections are split among generators and among the N ports (Lab A).
                parts = n_gen * len(ports)
                load = loadtools.LoadSpec(
                    url=f"http://{address}:{port}{case.endpoint}",
                    concurrency=_share(concurrency, parts, g_index * len(ports) + p_index),
                    seconds=seconds,
                    workdir=workdir,
                    prefix=f"{run_id}-{p_index}",
                    settings=hc.vars,
                    cpus=self._cpus(hc),
                    timeout=timeout,
                )
                invocation = tool.invocation(load)
                overrun = max(overrun, tool.overrun(load))
                files.update(invocation.files)
                processes.append({"argv": invocation.argv, "out": f"{workdir}/{load.prefix}.out"})
                mine.append(invocation)
                connections.append(load.concurrency)
            invocations.append(mine)
            # A tool still running after its time (and what it may run past it: k6 waits for the
            # requests in flight) gets SIGINT (it prints its summary), and SIGKILL to its process
            # group if it still runs: siege 4.0.7 can deadlock with SIGINT blocked.
            specs.append(
                {
                    "name": LOAD,
                    "processes": processes,
                    "files": files,
                    "interrupt_after": seconds + overrun + self.load_grace,
                    "kill_after": self.kill_after,
                    "timeout": seconds + overrun + self.load_grace + self.kill_after + 30,
                }
            )
        ends = seconds + overrun + self.load_grace + self.kill_after
        answers = self._run_everywhere(specs, timeout=ends + 90)
        outputs = []
        ended: dict[str, str] = {}
        interrupted = False
        for hc, spec, answer, mine in zip(self.generators, specs, answers, invocations, strict=True):
            how = answer.get("ended") or ["exited"] * len(spec["processes"])
            interrupted = interrupted or any(answer.get("interrupted", []))
            for p_index, (proc, invocation) in enumerate(zip(spec["processes"], mine, strict=True)):
                name = f"{hc.host.name}-{tool.name}-{p_index}"
                ended[name] = how[p_index]
                raw = hc.sh(f"cat {proc['out']} 2>/dev/null || true").stdout
                text = raw
                if invocation.result_file:  # the figures are in the tool's result file
                    text = hc.sh(f"cat {invocation.result_file} 2>/dev/null || true").stdout
                path = out_dir / f"{name}.{_suffix(attempt)}.out"
                if attempt is not None:
                    self.results.write_text(path, raw)
                    if invocation.result_file:
                        kept = out_dir / f"{name}.{_suffix(attempt)}.{invocation.result_name}"
                        self.results.write_text(kept, text)
                outputs.append((hc.host.name, path, text))
            hc.sh(f"rm -f {_workdir(hc)}/{run_id}-*")
        return LoadRun(outputs, ended, interrupted, connections)

    def _case_fields(self, case: Case, system: System | None = None) -> dict[str, Any]:
        """The case's own fields, with the CPUs its system asks at its level beside the server's."""
        asked = (system or get_system(case.system)).process_model.cpus_asked(case.level)
        try:
            cpus: int | None = self._cpus(self.lab.server)
        except (LabFailure, OSError, ValueError):  # unknown, not a reason to lose the case
            cpus = None
        return {
            **_case_fields(case),
            "cpus_asked": asked,
            "server_cpus": cpus,
            "oversubscribed": None if cpus is None else asked > cpus,
        }

    def _cpus(self, hc: HostControl) -> int:
        """CPUs a host may use (from the inventory, else `nproc` once)."""
        if hc.host.name not in self._cpu_counts:
            self._cpu_counts[hc.host.name] = _cpu_count(hc)
        return self._cpu_counts[hc.host.name]

    def _run_everywhere(self, specs: list[RunSpec], timeout: float) -> list[RunAnswer]:
        """Every generator runs its part at the same moment: one fabric ThreadingGroup command."""
        # One command string for the whole group: each host reads its own spec from the same path.
        path = f"/tmp/.webbench-load-{uuid.uuid4().hex}.json"
        for hc, spec in zip(self.generators, specs, strict=True):
            hc.conn.put(io.BytesIO(json.dumps(spec).encode()), path)
        first = self.generators[0]
        command = as_root(
            with_stdin(first.agent_command("run"), path), any(hc.host.become for hc in self.generators)
        )
        group = ThreadingGroup.from_connections([hc.conn for hc in self.generators])
        try:
            results = group.run(command, hide=True, warn=True, timeout=timeout, in_stream=False)
        except Exception as exc:  # a GroupException carries each host's failure
            raise LabFailure(f"load: {_group_error(exc)}") from None
        answers: list[RunAnswer] = []
        for hc in self.generators:
            answer = cast(RunAnswer, read_answer(hc.host.name, results[hc.conn], "the load"))
            if not answer.get("ok"):
                raise LabFailure(f"host {hc.host.name}: the load did not run: {answer.get('error')}")
            answers.append(answer)
        return answers

    def _start_samplers(self, system: System) -> list[tuple[HostControl, str, str]]:
        started = []
        targets = [(self.lab.server, system.name)] + [(hc, LOAD) for hc in self.generators]
        for hc, target in targets:
            name = f"{SAMPLER}-{target}"
            out = f"{hc.vars['apps_run_root']}/{name}.jsonl"
            hc.sh(f"rm -f {out}")
            spec: LaunchSpec = {
                "name": name,
                "ports": [],
                "wait": 5,
                "processes": [{"argv": hc.agent_argv("sampler", target, out)}],
            }
            hc.start(spec)
            started.append((hc, name, out))
        return started

    def _sampled_hosts(self) -> list[str]:
        """The samples every measurement must have: the server's and each generator's."""
        return ["server", *(f"generator:{hc.host.name}" for hc in self.generators)]

    def _cpusets(self) -> dict[str, str | None]:
        """Each generator's CPU list (the inventory's): which of them share CPUs."""
        return {hc.host.name: hc.host.cpus for hc in self.generators}

    def _stop_samplers(self, samplers, case_dir: Path, attempt: int) -> dict[str, list[dict]]:
        samples: dict[str, list[dict]] = {}
        for hc, name, out in samplers:
            hc.stop(name)
            text = hc.sh(f"cat {out} 2>/dev/null || true").stdout
            role = "server" if hc is self.lab.server else f"generator:{hc.host.name}"
            samples[role] = [json.loads(line) for line in text.splitlines() if line.strip()]
            self.results.write_text(case_dir / f"samples-{hc.host.name}.{_suffix(attempt)}.jsonl", text)
        return samples

    def _log_offsets(self, remotes: list[str]) -> list[tuple[str, int]]:
        """Each log file with its size now (0 when it does not exist yet)."""
        if not remotes:
            return []
        script = "; ".join(f"stat -c %s {r} 2>/dev/null || echo 0" for r in remotes)
        sizes = self.lab.server.sh(script).stdout.split()
        return [(r, int(n)) for r, n in zip(remotes, sizes, strict=True)]

    def _keep_logs(self, out_dir: Path, log_files: list[tuple[str, int]]) -> None:
        """What each log gained since its offset, into out_dir."""
        for remote, offset in log_files:
            text = self.lab.server.sh(f"tail -c +{offset + 1} {remote} 2>/dev/null || true").stdout
            if text:
                self.results.write_text(out_dir / Path(remote).name, text)

    def emergency_stop(self, systems: list[str]) -> list[str]:
        """After Ctrl-C or a lost host: stop the load, the samplers and the system everywhere (the
        ceiling's target too)."""
        problems = []
        systems = [*systems, ceiling.SYSTEM]
        for hc in self.generators:
            for name in (LOAD, f"{SAMPLER}-{LOAD}"):
                with contextlib.suppress(Exception):
                    hc.stop(name)
        for name in [*systems, *(f"{SAMPLER}-{s}" for s in systems)]:
            try:
                answer = self.lab.server.stop(name)
            except Exception as exc:  # keep going: stop as much as can be stopped
                problems.append(f"{name}: {exc}")
                continue
            if not answer.get("ok"):  # e.g. processes that survived KILL
                problems.append(f"{name}: {answer.get('error', 'not stopped')}")
        return problems


def _processes(parsed: list[loadtools.LoadResult], attempt: Attempt) -> list[dict[str, Any]]:
    """Each load process's figures, with the generator that ran it and the connections it was
    given: with several generators, each one's share of the case is in the record."""
    hosts = [host for host, _, _ in attempt.outputs]
    given: list[int | None] = list(attempt.connections) or [None] * len(parsed)
    return [
        {**p.as_dict(), "host": host, "connections": n}
        for p, host, n in zip(parsed, hosts, given, strict=True)
    ]


def _share(total: int, parts: int, index: int) -> int:
    """Split `total` connections into `parts` as evenly as possible (the first get one more)."""
    base, extra = divmod(total, parts)
    return max(1, base + (1 if index < extra else 0))


def _workdir(hc: HostControl) -> str:
    return f"{hc.vars['apps_run_root']}/{LOAD}"


def _cpu_count(hc: HostControl) -> int:
    if hc.host.cpus:
        return len(cpu_list(str(hc.host.cpus)))
    return int(hc.sh("nproc").stdout.strip() or 1)


def _suffix(attempt: int | None) -> str:
    return f"attempt-{attempt}" if attempt is not None else "warmup"


def _case_fields(case: Case) -> dict[str, Any]:
    return {
        "case": case.key,
        "system": case.system,
        "level": case.level,
        "scenario": case.scenario,
        "endpoint": case.endpoint,
        "repeat": case.repeat,
    }


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def _group_error(exc: Exception) -> str:
    result = getattr(exc, "result", None)
    if result:
        parts = []
        for conn, value in result.items():
            if isinstance(value, Exception):
                parts.append(f"host {conn.host}: {type(value).__name__}: {value}")
        if parts:
            return "; ".join(parts)
    return f"{type(exc).__name__}: {exc}"
