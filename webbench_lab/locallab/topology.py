"""The local lab's shape (names, networks, addresses, CPUs) and the state file that remembers it.

`lab up` writes the state before it creates anything, so `lab down` can clean a half-built lab.
"""

from __future__ import annotations

import ipaddress
import itertools
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from webbench_lab.agent.appctl import cpu_list
from webbench_lab.errors import UserError
from webbench_lab.fsutil import write_atomic
from webbench_lab.locallab import cpulimit
from webbench_lab.locallab.login import ROOT, SSH_PORT, check_port, check_user
from webbench_lab.paths import run_dir

HOST_NAMES = ("generator", "server")
NETNS_PREFIX = "wbl-"
BRIDGE = "wbl-mgmt"
DEFAULT_MGMT_NET = "198.18.0.0/24"
DEFAULT_BENCH_NET = "198.19.0.0/30"
# The server's CPU time in cores unless `lab up --server-cpu` says otherwise: below what the
# generator's load tools can drive, so that the server is the limit (README, "The server's CPU").
DEFAULT_SERVER_CPU = 0.25
# Not 3142: where Debian enables apt-cacher-ng as a service, that port is taken on every address.
APT_PROXY_PORT = 3149


@dataclass(frozen=True)
class HostSpec:
    name: str
    mgmt_ip: str
    bench_ip: str
    cpus: str
    cpu_limit: float | None = None  # CPU time in cores (cgroup cpu quota), None: no limit

    @property
    def netns(self) -> str:
        return f"{NETNS_PREFIX}{self.name}"

    @property
    def inventory_name(self) -> str:
        """Its name in inventory/local.yml (Ansible warns when a host and a group share a name)."""
        return f"lab-{self.name}"

    @property
    def veth(self) -> str:
        """The root-namespace end of the host's management veth (<= 15 characters)."""
        return f"{NETNS_PREFIX}{self.name}"[:15]


@dataclass
class Topology:
    mgmt_net: str = DEFAULT_MGMT_NET
    bench_net: str = DEFAULT_BENCH_NET
    link_rate: str = "1gbit"
    hosts: list[HostSpec] = field(default_factory=list)
    login_user: str = ROOT  # the SSH user of every host; another user becomes root with sudo
    ssh_port: int = SSH_PORT

    @property
    def become(self) -> bool:
        """Whether the login user reaches root through sudo (as on real machines)."""
        return self.login_user != ROOT

    @property
    def bridge_ip(self) -> str:
        return str(next(ipaddress.ip_network(self.mgmt_net).hosts()))

    @property
    def mgmt_prefix(self) -> int:
        return ipaddress.ip_network(self.mgmt_net).prefixlen

    @property
    def bench_prefix(self) -> int:
        return ipaddress.ip_network(self.bench_net).prefixlen

    @property
    def apt_proxy(self) -> str:
        return f"http://{self.bridge_ip}:{APT_PROXY_PORT}"

    def host(self, name: str) -> HostSpec:
        return next(h for h in self.hosts if h.name == name)


def plan(
    mgmt_net: str = DEFAULT_MGMT_NET,
    bench_net: str = DEFAULT_BENCH_NET,
    server_cpu: float | None = None,
    login_user: str = ROOT,
    ssh_port: int = SSH_PORT,
) -> Topology:
    """Addresses and disjoint CPU sets for generator and server; the server's CPU time limited to
    `server_cpu` cores (cpulimit.check: None or 0, no limit); who logs in over SSH, on which port."""
    login_user, ssh_port = check_user(login_user), check_port(ssh_port)
    mgmt = _network(mgmt_net, "--mgmt-net")
    bench = _network(bench_net, "--bench-net")
    if mgmt.overlaps(bench):
        raise UserError(f"--bench-net {bench} overlaps --mgmt-net {mgmt}; give two disjoint networks")
    mgmt_hosts = list(_first_hosts(mgmt, 3, "--mgmt-net"))
    bench_hosts = list(_first_hosts(bench, 2, "--bench-net"))
    cpu_sets = split_cpus(sorted(os.sched_getaffinity(0)))
    limit = cpulimit.check(server_cpu, len(cpu_list(cpu_sets[1])))
    hosts = [
        HostSpec(name, str(mgmt_hosts[i + 1]), str(bench_hosts[i]), cpu_sets[i], limit if i == 1 else None)
        for i, name in enumerate(HOST_NAMES)
    ]
    return Topology(
        mgmt_net=str(mgmt), bench_net=str(bench), hosts=hosts, login_user=login_user, ssh_port=ssh_port
    )


def split_cpus(cpus: list[int]) -> list[str]:
    """The server gets a third of the CPUs (at least one), the generator the rest: one core each on
    2 cores, 3 and 1 on 4. The generator must never be the limit (Lab A's was a dual Xeon beside a
    netbook), and load tools need more CPU per request than the servers they measure.

    With a single CPU both share it, which the inventory then records honestly.
    """
    if len(cpus) < 2:
        only = str(cpus[0]) if cpus else "0"
        return [only, only]
    server = max(1, len(cpus) // 3)
    return [_cpulist(cpus[:-server]), _cpulist(cpus[-server:])]


def _cpulist(cpus: list[int]) -> str:
    return ",".join(str(c) for c in cpus)


def _network(text: str, flag: str) -> ipaddress.IPv4Network:
    try:
        net = ipaddress.ip_network(text, strict=True)
    except ValueError as exc:
        raise UserError(f"{flag} {text!r}: {exc}; give a network such as 198.18.0.0/24") from None
    if not isinstance(net, ipaddress.IPv4Network):
        raise UserError(f"{flag} {text}: the local lab uses IPv4; give an IPv4 network")
    return net


def _first_hosts(net: ipaddress.IPv4Network, count: int, flag: str):
    hosts = list(itertools.islice(net.hosts(), count))
    if len(hosts) < count:
        raise UserError(f"{flag} {net} is too small: it needs {count} host addresses")
    return hosts


def state_file() -> Path:
    return run_dir() / "lab.json"


def save(topology: Topology, status: str) -> None:
    data = {"status": status, **asdict(topology)}
    write_atomic(state_file(), json.dumps(data, indent=2) + "\n")


def load() -> tuple[Topology, str] | None:
    """The remembered lab, or None when no lab was started."""
    path = state_file()
    if not path.is_file():
        return None
    data = json.loads(path.read_text())
    hosts = [HostSpec(**h) for h in data.pop("hosts")]
    status = data.pop("status")
    return Topology(hosts=hosts, **data), status
