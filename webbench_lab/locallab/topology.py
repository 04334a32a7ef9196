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

GENERATOR, SERVER, BACKEND = "generator", "server", "backend"  # the inventory's groups
MAX_GENERATORS = 8
NETNS_PREFIX = "wbl-"
BRIDGE = "wbl-mgmt"
# With more than two hosts on the benchmark network, a bridge joins them: in a namespace of its
# own, so that nothing of the benchmark network is in the machine's root namespace.
SWITCH_NETNS = f"{NETNS_PREFIX}switch"
DEFAULT_MGMT_NET = "198.18.0.0/24"
DEFAULT_BENCH_NET = "198.19.0.0/30"  # one veth between two hosts
SWITCHED_BENCH_NET = "198.19.0.0/24"  # the default with more hosts (--generators, --backend)
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
    def group(self) -> str:
        """Its inventory group: generator1..N are generators, as `generator` is."""
        return self.name.rstrip("0123456789")

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

    def group(self, group: str) -> list[HostSpec]:
        """The hosts of one inventory group, in order (generator1..N)."""
        return [h for h in self.hosts if h.group == group]

    @property
    def server(self) -> HostSpec:
        return self.group(SERVER)[0]

    @property
    def switched(self) -> bool:
        """More than two hosts on the benchmark network: joined by a bridge, not one veth."""
        return len(self.hosts) > 2


def host_names(generators: int = 1, backend: bool = False) -> list[str]:
    """One generator keeps the name `generator` (every inventory and state file of a two-host lab
    stays as it was); several are generator1..N. The server, then the backend host."""
    gens = [GENERATOR] if generators == 1 else [f"{GENERATOR}{i}" for i in range(1, generators + 1)]
    return [*gens, SERVER, *([BACKEND] if backend else [])]


def check_generators(value: int | str) -> int:
    """`--generators`: 1 to MAX_GENERATORS."""
    try:
        count = int(value)
    except (TypeError, ValueError):
        count = 0
    if not 1 <= count <= MAX_GENERATORS:
        raise UserError(f"--generators {value}: give a number of generators from 1 to {MAX_GENERATORS}")
    return count


def plan(
    mgmt_net: str = DEFAULT_MGMT_NET,
    bench_net: str | None = None,
    server_cpu: float | None = None,
    login_user: str = ROOT,
    ssh_port: int = SSH_PORT,
    generators: int = 1,
    backend: bool = False,
) -> Topology:
    """Addresses and CPU sets for the generators, the server (CPUs of its own) and the backend
    host; the server's CPU time limited to `server_cpu` cores (cpulimit.check: None or 0, no
    limit); who logs in over SSH, on which port. `bench_net` None: the default for this many
    hosts (a /30 for two, SWITCHED_BENCH_NET for more)."""
    login_user, ssh_port = check_user(login_user), check_port(ssh_port)
    names = host_names(check_generators(generators), backend)
    if bench_net is None:
        bench_net = DEFAULT_BENCH_NET if len(names) == 2 else SWITCHED_BENCH_NET
    mgmt = _network(mgmt_net, "--mgmt-net")
    bench = _network(bench_net, "--bench-net")
    if mgmt.overlaps(bench):
        raise UserError(f"--bench-net {bench} overlaps --mgmt-net {mgmt}; give two disjoint networks")
    mgmt_hosts = list(_first_hosts(mgmt, len(names) + 1, "--mgmt-net"))
    bench_hosts = list(_first_hosts(bench, len(names), "--bench-net"))
    rest, server_cpus = split_cpus(sorted(os.sched_getaffinity(0)))
    others = iter(share_cpus(rest, len(names) - 1))
    limit = cpulimit.check(server_cpu, len(cpu_list(server_cpus)))
    hosts = [
        HostSpec(name, str(mgmt_hosts[i + 1]), str(bench_hosts[i]), server_cpus, limit)
        if name == SERVER
        else HostSpec(name, str(mgmt_hosts[i + 1]), str(bench_hosts[i]), next(others))
        for i, name in enumerate(names)
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


def share_cpus(cpus: str, hosts: int) -> list[str]:
    """The CPUs left beside the server for `hosts` hosts (generators, backend): disjoint slices
    when there is at least one CPU each (the first slices one larger), else every host on all of
    them. On two cores that is CPU 0 for all: they share it, and a run's manifest says so."""
    found = sorted(cpu_list(cpus))
    if hosts <= 1 or len(found) < hosts:
        return [cpus] * hosts
    size, extra = divmod(len(found), hosts)
    out, start = [], 0
    for i in range(hosts):
        end = start + size + (1 if i < extra else 0)
        out.append(_cpulist(found[start:end]))
        start = end
    return out


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
