"""Several generators and a backend host, on the real lab (`real_lab`: `lab up --generators 2
--backend`, with the login user of test_login_user.py; issue 13): the hosts on a switch, a QUICK Lab
A run whose connections are split between the two generators (each one's raw output kept, the rates
added, each generator judged on its own, the shared CPUs in the manifest), a QUICK Lab B run whose
/data/ reaches the upstream API on the backend host. `lab down` leaving nothing of the switch is
test_teardown.py's check, which a whole session runs on this lab."""

from __future__ import annotations

import base64
import json
import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import GENERATORS, RealLab, sh, wbl
from webbench_lab.bench import ceiling, loadtools
from webbench_lab.bench.generators import GENERATOR_BOUND_PCT
from webbench_lab.defaults import host_vars
from webbench_lab.locallab import cpusets, topology

pytestmark = pytest.mark.e2e

# A chart of report.html: its id and its SVG (tests/unit/test_htmlreport.py reads them so too).
FIGURE = r"<figure id=\"([^\"]+)\" data-marks='[^']*'>\s*<img src=\"data:image/svg\+xml;base64,([^\"]+)\""


def run_dir_of(proc: subprocess.CompletedProcess[str]) -> Path:
    line = next(ln for ln in proc.stderr.splitlines() if ln.startswith("results: "))
    return Path(line.split(": ", 1)[1].strip())


def repeats(path: Path) -> dict[str, dict]:
    rows = json.loads((path / "summary.json").read_text())
    return {row["case"]: row for row in rows if row["row"] == "repeat"}


def reached(host, address: str, port: int) -> str:
    """From `host`: 'open', 'refused' (the address answered: nothing listens on the port), or the
    error (a timeout, no route): whether the address is reachable at all, with nothing to start."""
    code = (
        "import errno, socket\n"
        "s = socket.socket()\n"
        "s.settimeout(3)\n"
        f"r = s.connect_ex(('{address}', {port}))\n"
        "print({0: 'open', errno.ECONNREFUSED: 'refused'}.get(r, f'error {r}'))\n"
    )
    return sh(host, f"python3 -c {shlex.quote(code)}").strip()


def in_netns(ns: str, *command: str) -> str:
    """A command's output in a lab namespace, run from the control machine."""
    return subprocess.run(
        ["ip", "netns", "exec", ns, *command], capture_output=True, text=True, check=True
    ).stdout


def switch(*command: str) -> str:
    return in_netns(topology.SWITCH_NETNS, *command)


def shares_cpus() -> bool:
    """Whether this machine has too few CPUs for the generators and the backend to have one each
    beside the server's third (topology.split_cpus, share_cpus)."""
    cpus = len(os.sched_getaffinity(0))
    return cpus - max(1, cpus // 3) < 3 if cpus > 1 else True


def test_two_generators_a_server_and_a_backend_on_a_switch(real_lab: RealLab):
    gens_lab = real_lab.inventory
    assert [h.name for h in gens_lab.group("generator")] == GENERATORS
    (server,) = gens_lab.group("server")
    (backend,) = gens_lab.group("backend")
    assert backend.name == "lab-backend"
    status = wbl("lab", "status")
    assert status.returncode == 0 and status.stdout.count(" up ") == 4, status.stdout
    # Each host pinned to the CPUs the inventory says; the server's are its own.
    for host in gens_lab.hosts.values():
        assert sh(host, "grep Cpus_allowed_list /proc/self/status").split()[-1] == host.cpus
    own = cpusets.cpus_of(server.cpus)
    others = [cpusets.cpus_of(h.cpus) for h in gens_lab.hosts.values() if h is not server]
    assert all(not own & cpus for cpus in others) or len(os.sched_getaffinity(0)) == 1
    # The switch: a bridge in its own namespace that forwards nothing at the IP level, its port
    # toward the server shaped as each host's own link is.
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert topology.SWITCH_NETNS in netns
    assert switch("cat", "/proc/sys/net/ipv4/ip_forward").strip() == "0"
    assert switch("ip", "-4", "addr", "show", "scope", "global") == ""  # it bridges, no address
    qdisc = switch("tc", "qdisc", "show", "dev", "to-server")
    assert "tbf" in qdisc and "rate 1Gbit" in qdisc, qdisc
    for host in gens_lab.hosts.values():
        ns = topology.NETNS_PREFIX + host.name.removeprefix("lab-")
        qdisc = in_netns(ns, "tc", "qdisc", "show", "dev", "bench0")
        assert "rate 1Gbit" in qdisc, host.name
    # Every generator and the backend reach the server over the switch (nothing listens on port 9
    # of its benchmark address: refused, not lost), and the server reaches the backend.
    for host in [*gens_lab.group("generator"), backend]:
        assert reached(host, server.bench_address, 9) == "refused", host.name
    assert reached(server, backend.bench_address, 9) == "refused"


def test_quick_lab_a_splits_the_connections_between_the_generators(real_lab: RealLab, real_quick_a):
    gens_lab = real_lab.inventory
    path, _ = real_quick_a
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["complete"] is True
    assert manifest["inventory"]["lab-backend"]["groups"] == ["backend"]
    # The manifest names the hosts that share CPUs (on 2 cores: both generators and the backend on
    # CPU 0), and report.md says so.
    shared = cpusets.shared_cpus({name: h.cpus for name, h in gens_lab.hosts.items()})
    assert manifest["shared_cpus"] == shared and bool(shared) == shares_cpus()
    if shares_cpus():
        hosts = {h for entry in shared for h in entry["hosts"]}
        assert set(GENERATORS) | {"lab-backend"} <= hosts
        assert "lab-server" not in hosts or len(os.sched_getaffinity(0)) == 1
        assert "shared by" in (path / "report.md").read_text()
    # The ceiling: measured from both generators at once, generator-limited when either was.
    (top,) = manifest["generator_ceiling"].values()
    assert top["rate"] > 0 and [g["name"] for g in top["generators"]] == GENERATORS
    for generator in GENERATORS:
        assert (path / top["dir"] / f"{generator}-siege-0.attempt-1.out").is_file()
    if any(g["bound"] for g in top["generators"]):
        assert top["generator_limited"] is True
    elif all(g["bound"] is False for g in top["generators"]):
        assert top["generator_limited"] in (False, None)

    rows = repeats(path)
    assert {r["system"] for r in rows.values()} == {"go-http", "tornado"}
    key, row = next((k, r) for k, r in rows.items() if r["system"] == "go-http")
    assert row["status"] == "ok" and row["rate"] > 0, row
    case_dir = path / "cases" / key
    # Each generator ran its share of the connections (siege -c 200 split in two), and its raw
    # output is in the case.
    assert row["concurrency"] == 200
    processes = row["processes"]
    assert [(p["host"], p["connections"]) for p in processes] == [(g, 100) for g in GENERATORS]
    siege = loadtools.get("siege")
    assert row["raw_outputs"] == [f"{g}-siege-0.attempt-{row['attempt']}.out" for g in GENERATORS]
    for name, process in zip(row["raw_outputs"], processes, strict=True):
        figures = siege.parse((case_dir / name).read_text())
        assert figures.requests > 0 and figures.rate == pytest.approx(process["rate"], abs=0.01)
    # The case's rate is the generators' rates added.
    assert row["rate"] == pytest.approx(sum(p["rate"] for p in processes), abs=0.05)
    assert row["requests"] == sum(p["requests"] for p in processes)
    # Generator-bound judged per generator: each one's CPU from its own samples, and generators
    # sharing CPUs on their loads added.
    each = {g["name"]: g for g in row["generators"]}
    assert list(each) == GENERATORS
    for name, g in each.items():
        assert g["cpu_pct"] is not None and g["samples"] > 0 and g["cpus"] == gens_lab.hosts[name].cpus
        assert (case_dir / f"samples-{name}.attempt-{row['attempt']}.jsonl").read_text().strip()
    if shares_cpus():
        added = min(100.0, sum(g["cpu_pct"] for g in each.values()))
        for name, g in each.items():
            assert g["shared_with"] == [n for n in GENERATORS if n != name]
            assert g["shared_cpu_pct"] == pytest.approx(added, abs=0.05)
    for g in each.values():
        load = g["shared_cpu_pct"] if g["shared_with"] else g["cpu_pct"]
        assert g["bound"] == (None if g["samples_missing"] else load >= GENERATOR_BOUND_PCT)
    # The case: bound when any generator was, or near the ceiling (the rule of test_bench.py).
    near = row["ceiling_share"] >= ceiling.CEILING_SHARE
    assert row["near_ceiling"] == (near if not near or top["generator_limited"] else None)
    if any(g["bound"] for g in each.values()) or row["near_ceiling"]:
        assert row["generator_bound"] is True
    elif row["near_ceiling"] is None or any(g["bound"] is None for g in each.values()):
        assert row["generator_bound"] is None
    else:
        assert row["generator_bound"] is False
    # report.html names each generator's CPU series by its host (the SVG keeps its text as text).
    html = (path / "report.html").read_text()
    svgs = {m[1]: base64.b64decode(m[2]).decode() for m in re.finditer(FIGURE, html)}
    samples = svgs[f"samples-{key.rpartition('-r')[0]}"]
    assert all(f"r1 {g}" in samples for g in GENERATORS)


def test_quick_lab_b_data_reaches_the_upstream_api_on_the_backend_host(real_lab: RealLab, tmp_path):
    gens_lab = real_lab.inventory
    (server,) = gens_lab.group("server")
    (backend,) = gens_lab.group("backend")
    port = host_vars(backend.vars)["backend_port"]
    netns = topology.NETNS_PREFIX + topology.BACKEND

    def received() -> int:
        return int(in_netns(netns, "cat", "/sys/class/net/bench0/statistics/rx_packets"))

    before = received()
    proc = wbl(
        "bench", "--suite", "fastapi_gin_2025", "--quick", "--only", "gin", "--duration", "2",
        "--keep-services", "--results", str(tmp_path),
    )  # fmt: skip
    try:
        assert proc.returncode == 0, proc.stderr
        rows = repeats(run_dir_of(proc))
        assert len(rows) == 3 and all(r["status"] == "ok" for r in rows.values()), rows
        data = next(r for r in rows.values() if r["scenario"] == "I/O-bound")
        assert data["rate"] > 0 and data["p50_ms"] >= 15  # the upstream API answers after 15 ms
        assert [p["host"] for p in data["processes"]] == GENERATORS
        # Every /data/ request made one upstream call, each at least one packet into the backend.
        assert received() - before >= data["requests"]
        # The upstream API runs on the backend host, on its benchmark address, reached by the
        # server; not on a generator.
        answer = sh(
            server,
            'python3 -c "import urllib.request as u; '
            f"print(u.urlopen('http://{backend.bench_address}:{port}/items/7', timeout=5).read().decode())\"",
        )
        assert json.loads(answer) == {"id": 7, "name": "item-7"}
        for generator in gens_lab.group("generator"):
            assert reached(server, generator.bench_address, port) == "refused", generator.name
    finally:
        wbl("app", "stop", "services")
