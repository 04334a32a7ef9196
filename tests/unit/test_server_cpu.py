"""The server's CPU limit and the generator's ceiling, without a lab: `lab up --server-cpu` in the
plan and the inventory, the auditor reading a CFS quota through mountinfo (cgroup v1 as the local
lab shows it, v2 as a systemd machine has it), the ceiling system's nginx site and the ceiling's
targets per concurrency."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.conftest import valid_inventory
from webbench_lab.agent import auditor
from webbench_lab.apps import systems
from webbench_lab.bench import ceiling
from webbench_lab.bench.plan import plan
from webbench_lab.bench.record import Resources
from webbench_lab.bench.suites import load_suite
from webbench_lab.defaults import shared_defaults
from webbench_lab.errors import UserError
from webbench_lab.hosts.inventory import load_inventory
from webbench_lab.locallab import cpulimit, topology
from webbench_lab.templating import render


def test_the_plan_limits_only_the_server_and_the_inventory_records_it(monkeypatch):
    monkeypatch.setattr("os.sched_getaffinity", lambda _pid: {0, 1})
    topo = topology.plan(server_cpu=0.4)
    assert topo.host("server").cpu_limit == 0.4 and topo.host("generator").cpu_limit is None
    text = render("locallab/inventory.yml.j2", topo=topo, key_file="/k", known_hosts="/kh")
    hosts = yaml.safe_load(text)["all"]["children"]
    assert hosts["server"]["hosts"]["lab-server"]["lab_cpu_limit"] == 0.4
    assert "lab_cpu_limit" not in hosts["generator"]["hosts"]["lab-generator"]
    unlimited = topology.plan(server_cpu=0)
    assert unlimited.host("server").cpu_limit is None
    text = render("locallab/inventory.yml.j2", topo=unlimited, key_file="/k", known_hosts="/kh")
    assert "lab_cpu_limit" not in text


@pytest.mark.parametrize("cores", [0.05, 1.5, -1, float("nan")])
def test_a_server_cpu_outside_what_the_server_has_is_refused_in_one_line(monkeypatch, cores):
    monkeypatch.setattr("os.sched_getaffinity", lambda _pid: {0, 1})
    with pytest.raises(
        UserError, match=r"--server-cpu .*: give the server's CPU time in cores, from 0.1 to 1"
    ):
        topology.plan(server_cpu=cores)


def test_the_quota_is_the_cores_times_a_short_period():
    assert cpulimit.PERIOD_US == 10_000
    assert cpulimit.quota_us(0.5) == 5000 and cpulimit.quota_us(2) == 20_000


def test_the_inventory_reads_lab_cpu_limit_and_refuses_a_bad_one(write_inventory, ssh_files):
    data = valid_inventory(*ssh_files)
    data["all"]["children"]["server"]["hosts"]["srv1"]["lab_cpu_limit"] = 0.5
    assert load_inventory(write_inventory(data)).hosts["srv1"].cpu_limit == 0.5
    data["all"]["children"]["server"]["hosts"]["srv1"]["lab_cpu_limit"] = "half"
    with pytest.raises(
        UserError, match=r"host 'srv1': lab_cpu_limit 'half': give the host's CPU time in cores"
    ):
        load_inventory(write_inventory(data))


def _proc(tmp_path: Path, cgroup: str, mountinfo: str) -> str:
    proc = tmp_path / "proc"
    proc.mkdir()
    (proc / "cgroup").write_text(cgroup)
    (proc / "mountinfo").write_text(mountinfo)
    return str(proc)


def test_the_auditor_reads_a_v1_quota_where_the_group_is_mounted_as_the_hierarchys_root(tmp_path):
    """A local lab host: its own group (/webbench-lab/server) bind-mounted at .../cpu."""
    cpu = tmp_path / "cgroup" / "cpu"
    cpu.mkdir(parents=True)
    (cpu / "cpu.cfs_quota_us").write_text("5000\n")
    (cpu / "cpu.cfs_period_us").write_text("10000\n")
    proc = _proc(
        tmp_path,
        "3:cpuset:/webbench-lab/server\n1:cpu:/webbench-lab/server\n0::/\n",
        f"30 25 0:27 /webbench-lab/server {cpu} ro,relatime - cgroup cgroup rw,cpu\n",
    )
    limit = auditor.cpu_limit(proc)
    assert limit is not None
    assert (limit["cores"], limit["quota_us"], limit["period_us"]) == (0.5, 5000, 10000)
    assert limit["cgroup"] == "v1:/webbench-lab/server"


def test_the_auditor_takes_the_tightest_v2_limit_up_the_tree_and_none_without_one(tmp_path):
    root = tmp_path / "cgroup"
    group = root / "system.slice" / "app.service"
    group.mkdir(parents=True)
    (root / "system.slice" / "cpu.max").write_text("150000 100000\n")
    (group / "cpu.max").write_text("max 100000\n")
    mount = f"25 1 0:26 / {root} rw - cgroup2 cgroup2 rw\n"
    limit = auditor.cpu_limit(_proc(tmp_path, "0::/system.slice/app.service\n", mount))
    assert limit is not None and limit["cores"] == 1.5 and limit["directory"] == str(root / "system.slice")
    (root / "system.slice" / "cpu.max").write_text("max 100000\n")
    assert auditor.cpu_limit(str(tmp_path / "proc")) is None


def test_the_ceiling_system_serves_every_verified_reply_from_a_file_with_its_media_type():
    system = systems.get(ceiling.SYSTEM)
    model = system.process_model
    files = model.files()
    assert files["www/Hello/100"].startswith("0: Hello\n") and files["www/ping"] == '{"message":"pong"}'
    assert "www/nope" not in files and model.cpus_asked(4) == 1 and system.process_ports(1) == []
    (site,) = [s for s in systems.nginx_sites(shared_defaults()) if s["dest"].endswith("/ceiling-L1.conf")]
    text = render("server/nginx.conf.j2", **site)
    assert f"root {site['run_dir']}/www;" in text
    assert "location = /ping {\n            default_type application/json;" in text
    assert "proxy_pass" not in text and "fastcgi_pass" not in text


def test_a_system_without_start_is_refused_unless_its_model_starts_nothing_of_its_own(tmp_path):
    folder = tmp_path / "x"
    folder.mkdir()
    (folder / "system.yml").write_text("display: X\nlanguage: go\nlab: A\nmodel: goroutines\nport: 1\n")
    with pytest.raises(UserError, match="field 'start' is missing"):
        systems.load_system(folder / "system.yml")


def test_one_ceiling_per_concurrency_on_an_endpoint_the_ceiling_serves():
    system = systems.get(ceiling.SYSTEM)
    lab_a = load_suite("web_bench_2011")
    (only,) = ceiling.targets(lab_a, plan(lab_a), system)
    assert (only.concurrency, only.endpoint, only.key) == (200, "/Hello/100", "c200")
    lab_b = load_suite("fastapi_gin_2025")
    found = ceiling.targets(lab_b, plan(lab_b), system)
    # fib(35) and /data/{id} have no fixed reply: their concurrency is measured on /ping.
    assert [(t.concurrency, t.endpoint) for t in found] == [(8, "/ping"), (100, "/ping")]
    assert found[0].timeout == 60 and found[0].case().concurrency == 8


def test_the_share_of_the_ceiling_and_a_ceiling_measured_while_the_generator_was_idle():
    assert ceiling.share(800.0, {"rate": 1000.0}) == 0.8
    assert ceiling.share(None, {"rate": 1000.0}) is None and ceiling.share(800.0, {"rate": None}) is None
    assert ceiling.share(800.0, None) is None
    target = ceiling.Target(200, 60, "/Hello/100")
    idle = Resources.from_samples(
        {"server": [{"host_cpu_pct": 20.0, "cpus": 1, "proc_cpu_pct": 10.0, "rss_kb": 1}],
         "generator:g": [{"host_cpu_pct": 50.0, "cpus": 1, "proc_cpu_pct": 0.0, "rss_kb": 0}]},
    )  # fmt: skip
    assert ceiling.summary(target, None, idle)["generator_limited"] is False
    server = [{"host_cpu_pct": 20.0, "cpus": 1, "proc_cpu_pct": 10.0, "rss_kb": 1}] * 3
    hot = [{"host_cpu_pct": 97.0, "cpus": 1, "proc_cpu_pct": 0.0, "rss_kb": 0}] * 3
    busy = Resources.from_samples({"server": server, "generator:g": hot}, 3, ["server", "generator:g"])
    assert ceiling.summary(target, None, busy)["generator_limited"] is True
    # the generator's sampler gave too few samples: not known whether it was the limit
    short = Resources.from_samples({"server": server, "generator:g": hot[:0]}, 3, ["server", "generator:g"])
    assert ceiling.summary(target, None, short)["generator_limited"] is None


def test_the_report_says_what_the_server_had_and_each_ceiling_next_to_the_tables():
    from webbench_lab.bench import report

    manifest = {
        "server_cpu_limit": 0.5,
        "generator_ceiling": {
            "c100": {
                "rate": 15234.4,
                "generator_cpu_pct": 97.2,
                "generator_limited": True,
                "endpoint": "/ping",
            },
            "c8": {
                "rate": 4100.0,
                "generator_cpu_pct": 31.0,
                "generator_limited": False,
                "endpoint": "/ping",
            },
            "c200": {"rate": None, "reason": "verification: /ping: no answer"},
        },
    }
    lines = report.lab_lines(manifest)
    assert lines[0].startswith("Server CPU: limited to 0.5 core(s)")
    assert lines[1] == (
        "Generator ceiling at c100 (/ping from nginx's fixed replies): 15,234 requests/s "
        "(generator CPU 97%); a case at 80% of it or more is marked *."
    )
    assert "not busy: the target was the limit, so this is a lower bound" in lines[2]
    assert lines[2].endswith("a case at 80% of it or more is marked ? (unknown).")
    assert lines[3] == "Generator ceiling at c200: not measured (verification: /ping: no answer)."
    assert report.lab_lines({})[0] == "Server CPU: not limited (all of its CPUs)."
    suite = load_suite("web_bench_2011")
    assert "15,234 requests/s" in report.markdown(suite, [], manifest)


def test_the_limit_is_lifted_for_a_block_and_set_again_even_when_it_fails(tmp_path, monkeypatch):
    monkeypatch.setattr(cpulimit, "LAB_GROUP", tmp_path)
    (tmp_path / "server").mkdir()
    quota = tmp_path / "server" / "cpu.cfs_quota_us"
    quota.write_text("3000")
    with pytest.raises(RuntimeError), cpulimit.lifted("server", 0.3) as lifted:
        assert lifted is True and quota.read_text() == "-1"
        raise RuntimeError("the ceiling failed")
    assert quota.read_text() == "3000"
    with cpulimit.lifted("generator", 0.3) as lifted:  # no such group: nothing to lift
        assert lifted is False
    assert cpulimit.set_quota("server", 0.25) is True and quota.read_text() == "2500"


@pytest.fixture
def quota(tmp_path, monkeypatch) -> Path:
    """The local server's quota file at 0.25 core, in a cgroup tree of the test's own."""
    monkeypatch.setattr(cpulimit, "LAB_GROUP", tmp_path)
    (tmp_path / "server").mkdir()
    path = tmp_path / "server" / "cpu.cfs_quota_us"
    path.write_text("2500")
    return path


def test_only_a_local_lab_host_with_a_limit_is_run_unlimited_for_a_block(quota):
    from types import SimpleNamespace

    local = SimpleNamespace(name="lab-server", vars={"lab_local": True}, cpu_limit=0.25)
    assert cpulimit.local_group(local) == ("server", 0.25)  # type: ignore[arg-type]
    with cpulimit.unlimited(local) as lifted:  # type: ignore[arg-type]
        assert lifted is True and quota.read_text() == "-1"
    assert quota.read_text() == "2500"
    real = SimpleNamespace(name="lab-server", vars={}, cpu_limit=0.25)
    with cpulimit.unlimited(real) as lifted:  # type: ignore[arg-type]
        assert lifted is False and quota.read_text() == "2500"
    assert (
        cpulimit.local_group(SimpleNamespace(name="lab-server", vars={"lab_local": True}, cpu_limit=None))
        is None
    )  # type: ignore[arg-type]


def test_verify_runs_without_the_local_servers_cpu_limit_and_sets_it_again(quota, monkeypatch):
    """verify checks answers and measures nothing: the quota is lifted while it runs."""
    import argparse
    from types import SimpleNamespace

    from webbench_lab.apps import lifecycle
    from webbench_lab.apps import verify as verify_mod
    from webbench_lab.cli import verify as verify_cli
    from webbench_lab.hosts import inventory as inventory_mod

    server = SimpleNamespace(name="lab-server", vars={"lab_local": True}, cpu_limit=0.25)

    class FakeLab:
        def __init__(self, inventory) -> None:
            self.server = SimpleNamespace(host=server)

        def __enter__(self):
            return self

        def __exit__(self, *exc) -> None:
            return None

    seen = []
    monkeypatch.setattr(lifecycle, "Lab", FakeLab)
    monkeypatch.setattr(inventory_mod, "load_inventory", lambda source: None)
    monkeypatch.setattr(verify_cli, "resolve_inventory", lambda source: source)
    monkeypatch.setattr(verify_mod, "verify_systems", lambda lab, names, level, on_result: seen.append(
        quota.read_text()) or [])  # fmt: skip
    args = argparse.Namespace(systems=["go-http"], level="1", inventory=None)
    assert verify_cli.run(args) == 0
    assert seen == ["-1"] and quota.read_text() == "2500"


def test_a_go_build_gets_every_cpu_of_the_lab_and_the_host_its_own_again(quota, tmp_path, monkeypatch):
    """A build is not measured: the local server runs it on the lab's CPUs without its limit, then
    has its own CPU and limit again, even when the build fails; `restore` narrows what a dead
    driver left widened. A real machine is left alone."""
    from types import SimpleNamespace

    from webbench_lab.locallab import cpusets

    top = tmp_path / "cpuset"
    (top / "server").mkdir(parents=True)
    (top / "cpuset.cpus").write_text("0-1\n")
    cpus = top / "server" / "cpuset.cpus"
    cpus.write_text("1")
    monkeypatch.setattr(cpusets, "LAB_CPUSET", top)
    local = SimpleNamespace(name="lab-server", vars={"lab_local": True}, cpu_limit=0.25, cpus="1")
    with pytest.raises(RuntimeError), cpulimit.whole_machine(local) as widened:  # type: ignore[arg-type]
        assert widened is True and cpus.read_text() == "0-1" and quota.read_text() == "-1"
        raise RuntimeError("go build failed")
    assert cpus.read_text() == "1" and quota.read_text() == "2500"
    cpus.write_text("0-1")
    quota.write_text("-1")
    cpulimit.restore(local)  # type: ignore[arg-type]
    assert cpus.read_text() == "1" and quota.read_text() == "2500"
    real = SimpleNamespace(name="lab-server", vars={}, cpu_limit=0.25, cpus="1")
    with cpulimit.whole_machine(real) as widened:  # type: ignore[arg-type]
        assert widened is False and cpus.read_text() == "1" and quota.read_text() == "2500"
    missing = SimpleNamespace(name="lab-generator", vars={"lab_local": True}, cpu_limit=None, cpus="0")
    with cpulimit.whole_machine(missing) as widened:  # type: ignore[arg-type]
        assert widened is False  # no such group: nothing to widen
