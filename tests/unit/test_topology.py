"""The local lab's plan: addresses inside the benchmark range, disjoint CPUs, bad networks refused."""

from __future__ import annotations

import ipaddress

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
