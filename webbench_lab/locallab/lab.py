"""`lab up | down | status`: build, tear down and report the local two-host lab."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from webbench_lab.commands import run
from webbench_lab.errors import LabFailure, UserError
from webbench_lab.fsutil import write_atomic
from webbench_lab.hosts.control import HostControl
from webbench_lab.hosts.inventory import LabHost, load_inventory
from webbench_lab.hosts.keys import known_hosts_line, lab_key
from webbench_lab.hosts.ssh import check
from webbench_lab.locallab import aptproxy, cpulimit, cpusets, hosts, keeper, login, network, rootfs, topology
from webbench_lab.locallab.topology import Topology
from webbench_lab.paths import LOCAL_INVENTORY, run_dir
from webbench_lab.templating import render
from webbench_lab.ui import step

REQUIRED_TOOLS = ("debootstrap", "ip", "tc", "unshare", "mount", "ssh-keygen", "apt-cacher-ng", "useradd")


def require_root(action: str) -> None:
    if os.geteuid() != 0:
        raise UserError(
            f"webbench-lab lab {action}: must run as root (the local lab creates network "
            f"namespaces and mounts); run `webbench-lab lab {action}` or `make lab` as root"
        )


def _require_tools() -> None:
    missing = [t for t in REQUIRED_TOOLS if not shutil.which(t)]
    if missing:
        raise UserError(
            f"missing on the control machine: {', '.join(missing)}; `make lab` (as root) installs "
            "them (apt-get install debootstrap iproute2 util-linux openssh-client apt-cacher-ng passwd)"
        )


def up(
    mgmt_net: str,
    bench_net: str | None,
    server_cpu: float | None = topology.DEFAULT_SERVER_CPU,
    login_user: str = login.ROOT,
    ssh_port: int = login.SSH_PORT,
    generators: int = 1,
    backend: bool = False,
    meanwhile: Callable[[], None] | None = None,
) -> Topology:
    """`bench_net` None: the default for the number of hosts (topology.plan). `meanwhile` runs
    beside a fresh build (while debootstrap downloads and the hosts boot), and the lab is up once
    both are done; it reports its own failures."""
    require_root("up")
    _require_tools()
    planned = topology.plan(mgmt_net, bench_net, server_cpu, login_user, ssh_port, generators, backend)
    remembered = topology.load()
    if remembered:
        topo, status = remembered
        if status == "up" and _healthy(topo):
            if [h.name for h in topo.hosts] != [h.name for h in planned.hosts]:
                raise UserError(
                    f"the local lab is already up with the hosts {', '.join(h.name for h in topo.hosts)}; "
                    "run `webbench-lab lab down` before changing --generators or --backend"
                )
            if (topo.mgmt_net, topo.bench_net) != (planned.mgmt_net, planned.bench_net):
                raise UserError(
                    f"the local lab is already up on {topo.mgmt_net} / {topo.bench_net}; "
                    "run `webbench-lab lab down` before changing its networks"
                )
            if topo.host("server").cpu_limit != planned.host("server").cpu_limit:
                raise UserError(
                    f"the local lab is already up with server CPU {_limit(topo)}; "
                    "run `webbench-lab lab down` before changing --server-cpu"
                )
            if (topo.login_user, topo.ssh_port) != (planned.login_user, planned.ssh_port):
                raise UserError(
                    f"the local lab is already up with login {topo.login_user} on port {topo.ssh_port}; "
                    "run `webbench-lab lab down` before changing --login-user or --ssh-port"
                )
            _keep_awake(topo)
            step("lab is already up; nothing to do")
            _write_inventory(topo)
            return topo
        step("found a lab that is not fully up: cleaning it before a fresh start")
        down()
    topo = planned
    topology.save(topo, "starting")
    with ThreadPoolExecutor(max_workers=1) as pool:
        beside = pool.submit(meanwhile) if meanwhile else None
        _build(topo)
        if beside is not None:
            beside.result()
    return topo


def _build(topo: Topology) -> None:
    """The lab of `topo` from nothing: rootfs, networks, apt proxy, hosts, inventory."""
    mirror = rootfs.control_mirror()
    base = rootfs.ensure_rootfs(mirror, step)
    step(f"rootfs cache ready: {base}")
    network.create(topo)
    bench = (
        f"benchmark network {topo.bench_net} on a switch (a bridge in namespace {topology.SWITCH_NETNS}), "
        f"each host's link and the switch's port toward the server shaped to {topo.link_rate} (tbf)"
        if topo.switched
        else f"benchmark link {topo.bench_net} shaped to {topo.link_rate} (tbf)"
    )
    step(f"networks: management {topo.mgmt_net} on bridge {topology.BRIDGE}, {bench}")
    aptproxy.start(topo, mirror)
    step(f"apt proxy (apt-cacher-ng) on {topo.apt_proxy} -> {mirror}")

    key = lab_key()
    public_client_key = key.with_name(key.name + ".pub").read_text()
    known = ""
    for host in topo.hosts:
        hosts.mount_overlay(host, base)
        host_key = hosts.write_host_files(host, topo, public_client_key)
        known += known_hosts_line(host.mgmt_ip, topo.ssh_port, host_key)
        hosts.start(host)
    write_atomic(_known_hosts_path(), known, mode=0o600)
    for host in topo.hosts:
        hosts.wait_for_sshd(host, topo.ssh_port)
        limit = f", CPU time {host.cpu_limit:g} core(s)" if host.cpu_limit is not None else ""
        where = f"sshd on {host.mgmt_ip}:{topo.ssh_port}, bench {host.bench_ip}, cpus {host.cpus}{limit}"
        step(f"host {host.name}: up, {where}")
    for shared in cpusets.shared_cpus({h.name: h.cpus for h in topo.hosts}):
        step(f"CPUs {shared['cpus']} shared by {', '.join(shared['hosts'])} (too few cores for one each)")
    _write_inventory(topo)
    inventory = load_inventory(LOCAL_INVENTORY)
    for lab_host in inventory.hosts.values():
        name = check(lab_host)
        step(f"ssh {lab_host.endpoint}: ok (strict host key), hostname {name}")
        if lab_host.become:
            step(f"sudo on {name}: {_check_sudo(lab_host)}; root login refused by sshd")
    _keep_awake(topo)
    topology.save(topo, "up")
    step(f"inventory written: {LOCAL_INVENTORY}")


def _check_sudo(lab_host: LabHost) -> str:
    """The login user becomes root with `sudo -n`, as every client of the lab will ask it to."""
    with HostControl(lab_host) as hc:
        who = hc.sh("id -un").stdout.strip()
    if who != "root":
        raise LabFailure(f"host {lab_host.name}: `sudo -n id -un` as {lab_host.user} gave {who!r}, not root")
    return f"{lab_host.user} becomes root without a password"


def _keep_awake(topo: Topology) -> None:
    """A keeper on each CPU of a CPU-limited server that no other host uses (locallab/keeper.py:
    a throttled server's vCPU otherwise halts between its CFS periods)."""
    server = topo.host("server")
    if server.cpu_limit is None:
        return
    cpus = keeper.cpus_to_keep(server.cpus, [h.cpus for h in topo.hosts if h.name != server.name])
    if cpus:
        keeper.start(cpus)
        step(f"server CPUs {','.join(map(str, cpus))} kept awake (SCHED_IDLE keeper, outside the hosts)")


def _limit(topo: Topology) -> str:
    cores = topo.host("server").cpu_limit
    return "unlimited" if cores is None else f"{cores:g} core(s)"


def _known_hosts_path():
    return run_dir() / "known_hosts"


def _write_inventory(topo: Topology) -> None:
    text = render(
        "locallab/inventory.yml.j2",
        topo=topo,
        key_file=lab_key(),
        known_hosts=_known_hosts_path(),
    )
    if not LOCAL_INVENTORY.is_file() or LOCAL_INVENTORY.read_text() != text:
        write_atomic(LOCAL_INVENTORY, text)


def _healthy(topo: Topology) -> bool:
    return all(hosts.is_running(h) for h in topo.hosts) and aptproxy.running_pid() is not None


def down() -> None:
    """Stop every lab process, unmount, remove namespaces, links, bridge and cpusets."""
    require_root("down")
    remembered = topology.load()
    topo = remembered[0] if remembered else None
    names = {h.name: h.netns for h in topo.hosts} if topo else {}
    for ns in network.lab_namespaces():
        if ns != topology.SWITCH_NETNS:  # no host: network.destroy removes it
            names.setdefault(ns.removeprefix(topology.NETNS_PREFIX), ns)
    hosts_root = run_dir() / "hosts"
    if hosts_root.is_dir():
        for d in hosts_root.iterdir():
            names.setdefault(d.name, topology.NETNS_PREFIX + d.name)
    for name, ns in sorted(names.items()):
        hosts.stop(name, ns)
        step(f"host {name}: stopped and unmounted")
    aptproxy.stop()
    keeper.stop()
    network.destroy(topo)
    cpusets.remove_all()
    cpusets.remove_all(top=cpulimit.LAB_GROUP)
    with open("/proc/mounts") as fh:
        mounts = fh.read()
    for leftover in lab_mounts(mounts, str(run_dir()), names):
        run(["umount", "--lazy", leftover], check=False)
    LOCAL_INVENTORY.unlink(missing_ok=True)
    _known_hosts_path().unlink(missing_ok=True)
    shutil.rmtree(run_dir(), ignore_errors=True)
    step("lab down: no namespace, mount, link or process of the lab remains")


def lab_mounts(mounts: str, own_run_dir: str, names: Iterable[str]) -> list[str]:
    """Mount points to remove, deepest first: ours, and the root overlays of these hosts made by
    another clone's lab (namespace names are the machine's, run directories the clone's, so a
    `lab down` from one clone ends another's hosts and must not leave their overlays behind)."""
    ends = tuple(f"/run/hosts/{name}/root" for name in names)
    points = []
    for line in mounts.splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        point, fstype = fields[1], fields[2]
        ours = point == own_run_dir or point.startswith(own_run_dir + "/")
        if ours or (fstype == "overlay" and ends and point.endswith(ends)):
            points.append(point)
    return sorted(points, reverse=True)


@dataclass
class HostStatus:
    name: str
    running: bool
    reachable: bool
    detail: str


def status() -> list[HostStatus]:
    remembered = topology.load()
    if not remembered:
        return []
    topo, _ = remembered
    inventory = load_inventory(LOCAL_INVENTORY) if LOCAL_INVENTORY.is_file() else None
    out = []
    for spec in topo.hosts:
        running = hosts.is_running(spec)
        if not running or inventory is None or spec.inventory_name not in inventory.hosts:
            detail = "not running" if not running else f"not in {LOCAL_INVENTORY}"
            out.append(HostStatus(spec.name, running, False, detail))
            continue
        try:
            name = check(inventory.hosts[spec.inventory_name], timeout=5)
            out.append(HostStatus(spec.name, True, True, f"ssh ok, hostname {name}{_kept(spec)}"))
        except UserError as exc:
            out.append(HostStatus(spec.name, True, False, str(exc)))
    return out


def _kept(spec) -> str:
    """What status says of a CPU-limited server's keeper."""
    if spec.cpu_limit is None:
        return ""
    cpus = sorted(set(keeper.pids().values()))
    kept = f"CPUs {','.join(map(str, cpus))} kept awake" if cpus else "no keeper (`lab up` starts it)"
    return f"; CPU limit {spec.cpu_limit:g} core(s), {kept}"
