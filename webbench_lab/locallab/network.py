"""The lab's two networks: a management bridge to every host, and a shaped benchmark network: a
direct link between generator and server, or, with more hosts (`lab up --generators N`,
`--backend`), a switch: a bridge in a namespace of its own with one shaped link per host.

No route out of the hosts is ever added, and IP forwarding or NAT is never enabled (the switch's
namespace has forwarding set off explicitly: it only bridges).
"""

from __future__ import annotations

from webbench_lab.agent.appctl import cpu_list
from webbench_lab.commands import ok, run
from webbench_lab.locallab.topology import BRIDGE, NETNS_PREFIX, SWITCH_NETNS, HostSpec, Topology

BENCH_IF = "bench0"
MGMT_IF = "mgmt0"
SWITCH_BRIDGE = "switch0"  # inside SWITCH_NETNS
TBF = "burst 256k latency 1ms"  # each link's token bucket, beside its rate


def _ip(command: str) -> None:
    """Run one `ip`/`tc` command written as a line (lab names and addresses have no spaces)."""
    run(command.split())


def create(topo: Topology) -> None:
    if not ok(["ip", "link", "show", BRIDGE]):
        _ip(f"ip link add {BRIDGE} type bridge")
        _ip(f"ip addr add {topo.bridge_ip}/{topo.mgmt_prefix} dev {BRIDGE}")
    _ip(f"ip link set {BRIDGE} up")
    for host in topo.hosts:
        ns = host.netns
        if not ok(["ip", "netns", "pids", ns]):
            _ip(f"ip netns add {ns}")
        _ip(f"ip -n {ns} link set lo up")
        if not ok(["ip", "link", "show", host.veth]):
            _ip(f"ip link add {host.veth} type veth peer name {MGMT_IF} netns {ns}")
        _ip(f"ip link set {host.veth} master {BRIDGE} up")
        _ip(f"ip -n {ns} addr replace {host.mgmt_ip}/{topo.mgmt_prefix} dev {MGMT_IF}")
        _ip(f"ip -n {ns} link set {MGMT_IF} up")
    if topo.switched:
        _switch(topo)
        return
    gen, srv = topo.host("generator"), topo.host("server")
    if not ok(["ip", "-n", gen.netns, "link", "show", BENCH_IF]):
        _ip(f"ip link add {BENCH_IF} netns {gen.netns} type veth peer name {BENCH_IF} netns {srv.netns}")
    for host in (gen, srv):
        # A direct Gigabit link, as in Lab A: shape each direction with a token bucket.
        _bench_end(topo, host)


def _bench_end(topo: Topology, host: HostSpec) -> None:
    """A host's end of the benchmark network: its address, its link shaped, its receive steered."""
    ns = host.netns
    _ip(f"ip -n {ns} addr replace {host.bench_ip}/{topo.bench_prefix} dev {BENCH_IF}")
    _ip(f"ip -n {ns} link set {BENCH_IF} up")
    _ip(f"tc -n {ns} qdisc replace dev {BENCH_IF} root tbf rate {topo.link_rate} {TBF}")
    steer_receive(ns, host.cpus)


def switch_port(host: HostSpec) -> str:
    """The switch's end of a host's benchmark link (a name inside SWITCH_NETNS, <= 15 characters)."""
    return f"to-{host.name}"[:15]


def _switch(topo: Topology) -> None:
    """Every host's bench0 into one bridge in SWITCH_NETNS, as machines on one Gigabit switch:
    each host's link is shaped on its side as the direct link is, and the switch's port toward the
    server too, so that N generators together send the server no more than one link's rate. The
    bridge has no address and its namespace forwards nothing at the IP level: it only bridges."""
    sw = SWITCH_NETNS
    if not ok(["ip", "netns", "pids", sw]):
        _ip(f"ip netns add {sw}")
    run(["ip", "netns", "exec", sw, "sh", "-c", "echo 0 > /proc/sys/net/ipv4/ip_forward"])
    _ip(f"ip -n {sw} link set lo up")
    if not ok(["ip", "-n", sw, "link", "show", SWITCH_BRIDGE]):
        _ip(f"ip -n {sw} link add {SWITCH_BRIDGE} type bridge")
    _ip(f"ip -n {sw} link set {SWITCH_BRIDGE} up")
    server = topo.server
    for host in topo.hosts:
        port = switch_port(host)
        if not ok(["ip", "-n", host.netns, "link", "show", BENCH_IF]):
            _ip(f"ip link add {BENCH_IF} netns {host.netns} type veth peer name {port} netns {sw}")
        _ip(f"ip -n {sw} link set {port} master {SWITCH_BRIDGE} up")
        if host.name == server.name:
            _ip(f"tc -n {sw} qdisc replace dev {port} root tbf rate {topo.link_rate} {TBF}")
        _bench_end(topo, host)


def steer_receive(ns: str, cpus: str) -> None:
    """Each host does its own receive work on its own CPUs, as a machine with its own NIC does.

    A veth delivers a packet in its sender's context: without steering, the generator's CPU ran
    the server's TCP receive path (the handshakes, the requests, the accept queue) and the
    server's CPU the generator's. Measured with Tornado at level 1 (siege -c 200, 20 s loads on a
    quarter-core server, 18 loads each way): with steering the server's system time per request
    went from 28 to 84 us and its rate from about 1,230 to about 1,000 transactions/s (its own
    kernel work is now in its figure, as on Lab A's machines), the spread of loads in one batch
    from 5.3-5.7% to 3.0-3.8% (RSD; not in a level-1 run of the suite, where cases interleave:
    README), and the generator's CPU from 2.5 to 3.3 s per 20 s load."""
    path = f"/sys/class/net/{BENCH_IF}/queues/rx-0/rps_cpus"
    run(["ip", "netns", "exec", ns, "sh", "-c", f"echo {rps_mask(cpus)} > {path}"])


def rps_mask(cpus: str) -> str:
    """A kernel CPU list ("0-1,3") as the hex bitmap rps_cpus takes: 32-bit groups, commas between."""
    mask = sum(1 << c for c in cpu_list(cpus))
    digits = f"{mask:x}"
    groups = [digits[max(0, i - 8) : i] for i in range(len(digits), 0, -8)]
    return ",".join(reversed(groups))


def lab_namespaces() -> list[str]:
    out = run(["ip", "netns", "list"], check=False).stdout
    names = [line.split()[0] for line in out.splitlines() if line.strip()]
    return [n for n in names if n.startswith(NETNS_PREFIX)]


def netns_pids(ns: str) -> list[int]:
    out = run(["ip", "netns", "pids", ns], check=False).stdout
    return [int(p) for p in out.split()]


def destroy(topo: Topology | None) -> None:
    """Remove every lab namespace (the switch's too: with it go its bridge and the hosts' benchmark
    links), veth and the bridge (namespaces' processes must be gone first)."""
    names = set(lab_namespaces())
    if topo:
        spaces = [h.netns for h in topo.hosts] + ([SWITCH_NETNS] if topo.switched else [])
        names |= {ns for ns in spaces if ok(["ip", "netns", "pids", ns])}
        for host in topo.hosts:
            if ok(["ip", "link", "show", host.veth]):
                run(["ip", "link", "del", host.veth])
    for ns in sorted(names):
        run(["ip", "netns", "del", ns])
    out = run(["ip", "-o", "link", "show"], check=False).stdout
    for line in out.splitlines():
        name = line.split(":")[1].strip().split("@")[0]
        if name.startswith(NETNS_PREFIX) and name != BRIDGE:
            run(["ip", "link", "del", name], check=False)
    if ok(["ip", "link", "show", BRIDGE]):
        run(["ip", "link", "del", BRIDGE])
