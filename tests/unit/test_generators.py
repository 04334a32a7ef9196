"""Several generators judged one by one: any busy one makes the case generator-bound, one without
its samples makes it unknown, and generators that share CPUs are judged on their loads added."""

from __future__ import annotations

import json

import pytest

from webbench_lab.bench import ceiling
from webbench_lab.bench.generators import GENERATOR_BOUND_PCT, any_bound, judge, sharing_cpus
from webbench_lab.bench.record import CaseRecord, Resources
from webbench_lab.locallab.cpusets import shared_cpus


def samples(pct: float, n: int = 10) -> list[dict]:
    return [{"host_cpu_pct": pct, "own_cpu_pct": pct, "cpus": 1, "proc_cpu_pct": 0.0, "rss_kb": 1}] * n


HOSTS = ["server", "generator:g1", "generator:g2", "generator:g3"]


@pytest.mark.parametrize(
    ("cpusets", "groups"),
    [
        ({"g1": "0", "g2": "1"}, []),
        ({"g1": "0", "g2": "0"}, [["g1", "g2"]]),
        ({"g1": "0-1", "g2": "1", "g3": "2"}, [["g1", "g2"]]),
        # g1 and g3 share nothing, but both share with g2: one group
        ({"g1": "0", "g2": "0-1", "g3": "1", "g4": "5"}, [["g1", "g2", "g3"]]),
        ({"g3": "4", "g1": "0", "g2": "4", "g4": "0"}, [["g3", "g2"], ["g1", "g4"]]),
        ({"g1": None, "g2": "0", "g3": ""}, []),  # unknown CPUs share with none
        ({"g1": "x", "g2": "x"}, []),  # not a CPU list: unknown
    ],
)
def test_sharing_cpus_groups_the_generators_whose_cpu_sets_overlap(cpusets, groups):
    assert sharing_cpus(cpusets) == groups


def test_shared_cpus_names_each_shared_cpu_set_and_its_hosts():
    on_two_cores = {"lab-generator1": "0", "lab-generator2": "0", "lab-server": "1", "lab-backend": "0"}
    assert shared_cpus(on_two_cores) == [
        {"cpus": "0", "hosts": ["lab-generator1", "lab-generator2", "lab-backend"]}
    ]
    assert shared_cpus({"a": "0-2", "b": "1-2", "c": "3"}) == [{"cpus": "1,2", "hosts": ["a", "b"]}]
    assert shared_cpus({"a": "0", "b": "1"}) == [] and shared_cpus({"a": None, "b": None}) == []


def test_a_busy_generator_among_idle_ones_makes_the_case_bound():
    res = Resources.from_samples(
        {"server": samples(50), "generator:g1": samples(95), "generator:g2": samples(10),
         "generator:g3": samples(10)},
        10, HOSTS, {"g1": "0", "g2": "1", "g3": "2"},
    )  # fmt: skip
    assert res.generator_cpu_pct == 38.33  # their average alone would have said: not bound
    assert res.generator_bound is True
    assert res.generators is not None
    assert [(g.name, g.cpu_pct, g.bound, g.shared_with) for g in res.generators] == [
        ("g1", 95.0, True, []),
        ("g2", 10.0, False, []),
        ("g3", 10.0, False, []),
    ]


def test_idle_generators_are_not_bound():
    res = Resources.from_samples(
        {"server": samples(50), "generator:g1": samples(20), "generator:g2": samples(30),
         "generator:g3": samples(10)},
        10, HOSTS, {"g1": "0", "g2": "1", "g3": "2"},
    )  # fmt: skip
    assert res.generator_bound is False


def test_a_generator_without_its_samples_makes_the_case_unknown():
    short = {"server": samples(50), "generator:g1": samples(20), "generator:g2": samples(30, n=3)}
    res = Resources.from_samples(short, 10, HOSTS[:3], {"g1": "0", "g2": "1"})
    assert res.samples_missing is True and res.generator_bound is None
    assert res.generators is not None
    assert [(g.name, g.samples_missing, g.bound) for g in res.generators] == [
        ("g1", False, False),
        ("g2", True, None),
    ]
    # a generator whose sampler gave nothing at all is still judged: unknown
    absent = Resources.from_samples({"server": samples(50), "generator:g1": samples(20)}, 10, HOSTS[:3])
    assert absent.generators is not None and [g.name for g in absent.generators] == ["g1", "g2"]
    assert absent.generator_bound is None
    # but a busy generator with all its samples is bound whatever the others say
    busy = {**short, "generator:g1": samples(96)}
    assert Resources.from_samples(busy, 10, HOSTS[:3]).generator_bound is True


def test_two_generators_sharing_cpu_0_at_50_percent_each_are_judged_at_100():
    both = {"server": samples(50), "generator:g1": samples(50), "generator:g2": samples(50)}
    res = Resources.from_samples(both, 10, HOSTS[:3], {"g1": "0", "g2": "0"})
    assert res.generator_cpu_pct == 50.0 and res.generator_bound is True
    assert res.generators is not None
    g1, g2 = res.generators
    assert (g1.shared_with, g2.shared_with) == (["g2"], ["g1"])
    assert g1.shared_cpu_pct == g2.shared_cpu_pct == 100.0 and g1.bound is g2.bound is True
    # on CPUs of their own, the same loads are not bound
    apart = Resources.from_samples(both, 10, HOSTS[:3], {"g1": "0", "g2": "1"})
    assert apart.generator_bound is False and apart.generators is not None
    assert [g.shared_cpu_pct for g in apart.generators] == [None, None]


def test_shared_loads_are_added_in_cores_on_the_cpus_they_share_and_never_above_100():
    (a, b) = judge({"a": [80.0], "b": [40.0]}, {"a": "0-1", "b": "1"})
    # a: 1.6 cores of 0-1, b: 0.4 core of 1; 2 cores of 0-1 in all: 100%
    assert a.shared_cpu_pct == b.shared_cpu_pct == 100.0
    (a, b) = judge({"a": [40.0], "b": [40.0]}, {"a": "0-1", "b": "1"})
    assert a.shared_cpu_pct == 60.0 and a.bound is False  # 0.8 + 0.4 cores of 2
    (a, b) = judge({"a": [70.0], "b": [70.0]}, {"a": "0", "b": "0"})
    assert a.shared_cpu_pct == 100.0  # each counts CPU 0's interrupts: capped
    (a, b) = judge({"a": [70.0], "b": []}, {"a": "0", "b": "0"})
    assert a.shared_cpu_pct is None and a.bound is None and b.cpu_pct is None  # a sharer unknown


def test_any_bound():
    (busy,) = judge({"g": [GENERATOR_BOUND_PCT]}, {})
    (idle,) = judge({"g": [GENERATOR_BOUND_PCT - 0.1]}, {})
    (unknown,) = judge({"g": []}, {}, expected=5)
    assert any_bound([busy, idle]) is True and any_bound([busy, unknown]) is True
    assert any_bound([idle]) is False and any_bound([idle, unknown]) is None
    assert any_bound([idle], samples_missing=True) is None and any_bound([]) is None


def test_a_ceiling_is_generator_limited_when_any_generator_was_not_their_average():
    target = ceiling.Target(200, 60, "/Hello/100")
    res = Resources.from_samples(
        {"server": samples(20), "generator:g1": samples(97), "generator:g2": samples(5)},
        10, HOSTS[:3], {"g1": "0", "g2": "1"},
    )  # fmt: skip
    found = ceiling.summary(target, None, res)
    assert found["generator_cpu_pct"] == 51.0 and found["generator_limited"] is True
    assert [(g["name"], g["cpu_pct"], g["bound"]) for g in found["generators"]] == [
        ("g1", 97.0, True),
        ("g2", 5.0, False),
    ]


def test_the_generators_are_in_case_json_and_read_back():
    both = {"server": samples(50), "generator:g1": samples(50), "generator:g2": samples(50)}
    res = Resources.from_samples(both, 10, HOSTS[:3], {"g1": "0", "g2": "0"})
    record = CaseRecord("c-L1-s-r1", "c", 1, "s", "/", 1, status="ok", resources=res)
    data = record.to_json()
    assert [g["shared_cpu_pct"] for g in data["generators"]] == [100.0, 100.0]
    assert CaseRecord.from_json(data) == record
    # a case.json written before: no generators, read as unknown
    del data["generators"]
    old = CaseRecord.from_json(data)
    assert old.resources is not None and old.resources.generators is None and old.generator_bound is True


def test_the_report_says_which_hosts_share_which_cpus():
    from webbench_lab.bench import report

    shared = [{"cpus": "0", "hosts": ["lab-generator1", "lab-generator2", "lab-backend"]}]
    lines = report.lab_lines({"server_cpu_limit": 0.25, "shared_cpus": shared})
    (line,) = [ln for ln in lines if "shared by" in ln]
    assert line.startswith("CPUs 0 shared by lab-generator1, lab-generator2, lab-backend")
    assert "judged generator-bound on their loads added" in line
    assert not [ln for ln in report.lab_lines({"shared_cpus": []}) if "shared by" in ln]


def test_each_generators_cpu_series_is_named_by_its_host_when_there_are_several(tmp_path, monkeypatch):
    from webbench_lab.bench import charts, htmlreport
    from webbench_lab.bench.record import AttemptRecord

    drawn: dict[str, list[str]] = {}

    def chart(chart_id, title, panels, limits=None):
        drawn.update({name: [label for label, _, _ in series] for name, series in panels.items()})

    monkeypatch.setattr(charts, "timeseries_chart", chart)
    hosts = ["lab-generator1", "lab-generator2", "lab-server"]
    case_dir = tmp_path / "cases" / "c-L1-s-r1"
    case_dir.mkdir(parents=True)
    line = json.dumps({"t": 1.0, "host_cpu_pct": 40.0, "rss_kb": 1024})
    for host in hosts:
        (case_dir / f"samples-{host}.attempt-1.jsonl").write_text(line + "\n")
    files = [f"samples-{h}.attempt-1.jsonl" for h in hosts]
    attempt = AttemptRecord(1, "", "", "completed", "", {}, None, [], files, None, None)
    record = CaseRecord("c-L1-s-r1", "c", 1, "s", "/", 1, status="ok", attempt=1, attempts=[attempt])
    inventory = {h: {"groups": [h.removeprefix("lab-").rstrip("12")]} for h in hosts}
    htmlreport.timeseries(tmp_path, [record], {"inventory": inventory})
    assert drawn["generator CPU %"] == ["r1 lab-generator1", "r1 lab-generator2"]
    assert drawn["server CPU %"] == ["r1"]
    # one generator: its series keeps the repeat's name alone, as before
    one = {"lab-generator1": {"groups": ["generator"]}, "lab-server": {"groups": ["server"]}}
    attempt.samples = [files[0], files[2]]
    htmlreport.timeseries(tmp_path, [record], {"inventory": one})
    assert drawn["generator CPU %"] == ["r1"]
