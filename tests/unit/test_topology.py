"""The local lab's plan: addresses inside the benchmark range, disjoint CPUs, bad networks refused."""

from __future__ import annotations

import ipaddress
import json
import subprocess

import pytest

from webbench_lab.errors import UserError
from webbench_lab.locallab import topology


def test_default_plan_uses_the_benchmark_range_and_disjoint_cpus(monkeypatch):
    monkeypatch.setattr("os.sched_getaffinity", lambda _pid: {0, 1})
    topo = topology.plan()
    bench_range = ipaddress.ip_network("198.18.0.0/15")
    addresses = [topo.bridge_ip] + [a for h in topo.hosts for a in (h.mgmt_ip, h.bench_ip)]
    assert all(ipaddress.ip_address(a) in bench_range for a in addresses)
    assert len(set(addresses)) == len(addresses)
    gen, srv = topo.host("generator"), topo.host("server")
    assert (gen.cpus, srv.cpus) == ("0", "1")
    assert gen.inventory_name == "lab-generator"
    assert topo.apt_proxy == f"http://198.18.0.1:{topology.APT_PROXY_PORT}"


@pytest.mark.parametrize(
    ("cpus", "expected"),
    [
        ([0], ["0", "0"]),
        ([0, 1], ["0", "1"]),
        ([0, 1, 2, 3], ["0,1,2", "3"]),
        ([2, 3, 5], ["2,3", "5"]),
        (list(range(8)), ["0,1,2,3,4,5", "6,7"]),
    ],
)
def test_split_cpus(cpus, expected):
    assert topology.split_cpus(cpus) == expected


@pytest.mark.parametrize(
    ("mgmt", "bench", "message"),
    [
        ("198.18.0.0/24", "198.18.0.0/30", "overlaps"),
        ("not-a-net", "198.19.0.0/30", "--mgmt-net 'not-a-net'"),
        ("198.18.0.0/24", "198.19.0.0/32", "too small"),
        ("198.18.0.1/24", "198.19.0.0/30", "has host bits set"),
    ],
)
def test_bad_networks(mgmt, bench, message):
    with pytest.raises(UserError, match=message):
        topology.plan(mgmt, bench)


def test_state_round_trip(monkeypatch, tmp_path):
    monkeypatch.setenv("WEBBENCH_LAB_STATE", str(tmp_path))
    topo = topology.plan()
    topology.save(topo, "starting")
    loaded, status = topology.load()
    assert status == "starting" and loaded == topo


@pytest.mark.parametrize(
    ("cpus", "mask"),
    [("0", "1"), ("1", "2"), ("0-1", "3"), ("0,2-3", "d"), ("31", "80000000"), ("0,33", "2,00000001")],
)
def test_receive_steering_masks_are_the_hosts_cpus_as_rps_cpus_bitmaps(cpus, mask):
    """rps_cpus takes a hex bitmap in 32-bit groups, most significant first, commas between."""
    from webbench_lab.locallab.network import rps_mask

    assert rps_mask(cpus) == mask


# -- several generators and a backend host ------------------------------------------------------


@pytest.fixture
def two_cpus(monkeypatch):
    monkeypatch.setattr("os.sched_getaffinity", lambda _pid: {0, 1})


def test_one_generator_keeps_the_two_host_lab_as_it_was(two_cpus):
    topo = topology.plan()
    assert [(h.name, h.group, h.mgmt_ip, h.bench_ip, h.cpus) for h in topo.hosts] == [
        ("generator", "generator", "198.18.0.2", "198.19.0.1", "0"),
        ("server", "server", "198.18.0.3", "198.19.0.2", "1"),
    ]
    assert topo.bench_net == "198.19.0.0/30" and not topo.switched


def test_two_generators_and_a_backend_on_two_cpus_share_the_one_the_server_does_not_have(two_cpus):
    topo = topology.plan(server_cpu=0.25, generators=2, backend=True)
    assert [(h.name, h.group, h.inventory_name, h.cpus, h.cpu_limit) for h in topo.hosts] == [
        ("generator1", "generator", "lab-generator1", "0", None),
        ("generator2", "generator", "lab-generator2", "0", None),
        ("server", "server", "lab-server", "1", 0.25),
        ("backend", "backend", "lab-backend", "0", None),
    ]
    assert [h.name for h in topo.group("generator")] == ["generator1", "generator2"]
    assert topo.server.name == "server" and topo.switched
    # Four hosts do not fit the default /30: the larger default, one address each.
    assert topo.bench_net == topology.SWITCHED_BENCH_NET == "198.19.0.0/24"
    assert [h.bench_ip for h in topo.hosts] == ["198.19.0.1", "198.19.0.2", "198.19.0.3", "198.19.0.4"]
    assert [h.mgmt_ip for h in topo.hosts] == ["198.18.0.2", "198.18.0.3", "198.18.0.4", "198.18.0.5"]
    veths = [h.veth for h in topo.hosts]
    assert len(set(veths)) == 4 and all(len(v) <= 15 for v in veths)


def test_with_enough_cpus_each_generator_has_its_own(monkeypatch):
    monkeypatch.setattr("os.sched_getaffinity", lambda _pid: set(range(8)))
    topo = topology.plan(generators=2, backend=True)
    assert {h.name: h.cpus for h in topo.hosts} == {
        "generator1": "0,1",
        "generator2": "2,3",
        "server": "6,7",
        "backend": "4,5",
    }
    monkeypatch.setattr("os.sched_getaffinity", lambda _pid: {0})  # one CPU: all on it
    assert {h.cpus for h in topology.plan(generators=3).hosts} == {"0"}


@pytest.mark.parametrize(
    ("cpus", "hosts", "expected"),
    [
        ("0", 1, ["0"]),
        ("0", 3, ["0", "0", "0"]),
        ("0,1,2", 2, ["0,1", "2"]),
        ("0,1,2", 3, ["0", "1", "2"]),
        ("0,1", 3, ["0,1", "0,1", "0,1"]),  # fewer CPUs than hosts: all share all
        ("0-5", 4, ["0,1", "2,3", "4", "5"]),
    ],
)
def test_share_cpus(cpus, hosts, expected):
    assert topology.share_cpus(cpus, hosts) == expected


def test_a_bench_net_too_small_for_the_hosts_is_one_line_naming_it(two_cpus):
    with pytest.raises(UserError, match=r"^--bench-net 198\.19\.0\.0/30 is too small: it needs 3 host"):
        topology.plan(bench_net="198.19.0.0/30", generators=2)
    assert topology.plan(bench_net="198.19.0.0/29", generators=2, backend=True).bench_net == "198.19.0.0/29"


@pytest.mark.parametrize("value", [0, 9, "two", "-1"])
def test_generators_out_of_range_are_refused(value, capsys):
    with pytest.raises(UserError, match=r"--generators .*: give a number of generators from 1 to 8"):
        topology.check_generators(value)
    from webbench_lab.cli import main as cli

    with pytest.raises(SystemExit) as exit_:
        cli.build_parser().parse_args(["lab", "up", "--generators", str(value)])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert f"argument --generators: --generators {value}: give a number of generators from 1 to 8" in err


def test_lab_up_options_reach_the_plan():
    from webbench_lab.cli import main as cli

    args = cli.build_parser().parse_args(["lab", "up", "--generators", "2", "--backend"])
    assert (args.generators, args.backend, args.bench_net) == (2, True, None)
    args = cli.build_parser().parse_args(["lab", "up"])
    assert (args.generators, args.backend, args.bench_net) == (1, False, None)


def test_a_state_file_of_a_two_host_lab_written_before_still_loads(monkeypatch, tmp_path):
    monkeypatch.setenv("WEBBENCH_LAB_STATE", str(tmp_path))
    old = {
        "status": "up",
        "mgmt_net": "198.18.0.0/24",
        "bench_net": "198.19.0.0/30",
        "link_rate": "1gbit",
        "hosts": [
            {"name": "generator", "mgmt_ip": "198.18.0.2", "bench_ip": "198.19.0.1", "cpus": "0",
             "cpu_limit": None},
            {"name": "server", "mgmt_ip": "198.18.0.3", "bench_ip": "198.19.0.2", "cpus": "1",
             "cpu_limit": 0.25},
        ],
        "login_user": "root",
        "ssh_port": 22,
    }  # fmt: skip
    topology.state_file().parent.mkdir(parents=True)
    topology.state_file().write_text(json.dumps(old))
    loaded = topology.load()
    assert loaded is not None
    topo, status = loaded
    assert status == "up" and not topo.switched and topo.server.cpu_limit == 0.25
    assert [h.name for h in topo.group("generator")] == ["generator"]


def test_a_state_file_with_several_generators_round_trips(monkeypatch, tmp_path, two_cpus):
    monkeypatch.setenv("WEBBENCH_LAB_STATE", str(tmp_path))
    topo = topology.plan(generators=3, backend=True)
    topology.save(topo, "up")
    loaded = topology.load()
    assert loaded is not None and loaded[0] == topo and loaded[0].switched


def test_the_inventory_lab_up_writes_has_every_generator_and_the_backend(tmp_path, ssh_files, two_cpus):
    from webbench_lab.apps import services
    from webbench_lab.hosts.inventory import load_inventory
    from webbench_lab.templating import render

    topo = topology.plan(generators=2, backend=True)
    key, known = ssh_files
    path = tmp_path / "local.yml"
    path.write_text(render("locallab/inventory.yml.j2", topo=topo, key_file=key, known_hosts=known))
    inventory = load_inventory(path)
    assert [h.name for h in inventory.group("generator")] == ["lab-generator1", "lab-generator2"]
    assert [h.name for h in inventory.group("server")] == ["lab-server"]
    (backend,) = inventory.group("backend")
    assert (backend.name, backend.bench_address, backend.cpus) == ("lab-backend", "198.19.0.4", "0")
    # The upstream API of /data/ runs on the backend host, reached on its benchmark address.
    assert services.backend_host(inventory) == backend
    assert services.api_url(inventory).startswith("http://198.19.0.4:")


# -- the commands that build the benchmark network ----------------------------------------------


@pytest.fixture
def commands(monkeypatch):
    """Every command network.py would run, none run: nothing exists yet."""
    from webbench_lab.locallab import network

    ran: list[str] = []

    def fake_run(args, check=True, **_kw):
        ran.append(" ".join(args))
        return subprocess.CompletedProcess(args, 0, "", "")

    monkeypatch.setattr(network, "run", fake_run)
    monkeypatch.setattr(network, "ok", lambda args: ran.append("? " + " ".join(args)) and False)
    return ran


def test_one_generator_keeps_the_direct_shaped_link(commands, two_cpus):
    from webbench_lab.locallab import network

    network.create(topology.plan())
    bench = [c for c in commands if "bench0" in c and not c.startswith("?")]
    tbf = "root tbf rate 1gbit burst 256k latency 1ms"
    rps = "/sys/class/net/bench0/queues/rx-0/rps_cpus"
    assert bench == [
        "ip link add bench0 netns wbl-generator type veth peer name bench0 netns wbl-server",
        "ip -n wbl-generator addr replace 198.19.0.1/30 dev bench0",
        "ip -n wbl-generator link set bench0 up",
        f"tc -n wbl-generator qdisc replace dev bench0 {tbf}",
        f"ip netns exec wbl-generator sh -c echo 1 > {rps}",
        "ip -n wbl-server addr replace 198.19.0.2/30 dev bench0",
        "ip -n wbl-server link set bench0 up",
        f"tc -n wbl-server qdisc replace dev bench0 {tbf}",
        f"ip netns exec wbl-server sh -c echo 2 > {rps}",
    ]
    assert not [c for c in commands if "switch" in c]


def test_more_hosts_are_joined_by_a_switch_in_its_own_namespace(commands, two_cpus):
    from webbench_lab.locallab import network

    topo = topology.plan(generators=2, backend=True)
    network.create(topo)
    done = [c for c in commands if not c.startswith("?")]
    sw = "wbl-switch"
    assert f"ip netns add {sw}" in done
    assert f"ip netns exec {sw} sh -c echo 0 > /proc/sys/net/ipv4/ip_forward" in done
    assert f"ip -n {sw} link add switch0 type bridge" in done
    tbf = "root tbf rate 1gbit burst 256k latency 1ms"
    for host in topo.hosts:
        ns, port = host.netns, f"to-{host.name}"
        assert f"ip link add bench0 netns {ns} type veth peer name {port} netns {sw}" in done
        assert f"ip -n {sw} link set {port} master switch0 up" in done
        assert f"ip -n {ns} addr replace {host.bench_ip}/24 dev bench0" in done
        assert f"tc -n {ns} qdisc replace dev bench0 {tbf}" in done  # each host's own link
        mask = "2" if host.name == "server" else "1"
        assert f"ip netns exec {ns} sh -c echo {mask} > /sys/class/net/bench0/queues/rx-0/rps_cpus" in done
    # The switch's port toward the server is shaped too, and only that one: N generators together
    # send the server no more than one link's rate.
    assert [c for c in done if c.startswith(f"tc -n {sw}")] == [
        f"tc -n {sw} qdisc replace dev to-server {tbf}"
    ]
    # The bridge joins the hosts: no address, no route, no forwarding or NAT anywhere.
    forwarding = [c for c in done if "ip_forward" in c]
    assert forwarding == [f"ip netns exec {sw} sh -c echo 0 > /proc/sys/net/ipv4/ip_forward"]
    assert not [c for c in done if "route" in c or "nat" in c.split() or "iptables" in c]
    assert not [c for c in done if c.startswith(f"ip -n {sw} addr")]
    # Nothing of the benchmark network in the root namespace: every bench link has both ends in a
    # namespace, and the root namespace gets only the management veths.
    assert all(" netns " in c for c in done if c.startswith("ip link add bench0"))


def test_lab_down_removes_the_switch_namespace_and_every_host_namespace(monkeypatch, two_cpus):
    from webbench_lab.locallab import network

    topo = topology.plan(generators=2, backend=True)
    ran: list[str] = []

    def fake_run(args, check=True, **_kw):
        ran.append(" ".join(args))
        return subprocess.CompletedProcess(args, 0, "", "")

    monkeypatch.setattr(network, "run", fake_run)
    monkeypatch.setattr(network, "ok", lambda args: True)  # everything exists
    monkeypatch.setattr(network, "lab_namespaces", lambda: [])  # ... though `ip netns list` missed it
    network.destroy(topo)
    deleted = [c.removeprefix("ip netns del ") for c in ran if c.startswith("ip netns del ")]
    assert sorted(deleted) == sorted([*(h.netns for h in topo.hosts), "wbl-switch"])
    veths = [c for c in ran if c.startswith("ip link del")]
    assert veths[:4] == [f"ip link del {h.veth}" for h in topo.hosts]
