"""benchmarks/make_test_times.py: the breakdown charges each lab step and test to its lab."""

from __future__ import annotations

import json

from benchmarks import make_test_times


def _data() -> dict:
    return {
        "wall_seconds": 754.0,
        "tests": {
            "tests/unit/test_a.py::test_x": {"e2e": False, "lab": "", "outcome": "passed", "call": 1.5},
            "tests/e2e/test_lab.py::test_y": {
                "e2e": True, "lab": "pyinfra", "outcome": "passed", "setup": 300.0, "call": 2.0,
            },
            "tests/e2e/test_bench.py::test_quick": {
                "e2e": True, "lab": "pyinfra", "outcome": "failed", "call": 150.0,
            },
        },
        "steps": [
            {"step": "lab up", "args": ["lab", "up"], "quick": False, "seconds": 200.0, "lab": "pyinfra",
             "test": "tests/e2e/test_lab.py::test_y", "phase": "setup", "returncode": 0, "at": 1},
            {"step": "provision", "args": ["provision"], "quick": False, "seconds": 95.0, "lab": "pyinfra",
             "test": "tests/e2e/test_lab.py::test_y", "phase": "setup", "returncode": 0, "at": 2},
            {"step": "bench", "args": ["bench", "--quick"], "quick": True, "seconds": 140.0, "lab": "pyinfra",
             "test": "tests/e2e/test_bench.py::test_quick", "phase": "call", "returncode": 0, "at": 3},
        ],
    }  # fmt: skip


def test_the_breakdown_names_each_labs_steps_and_the_slowest_tests_first():
    text = "\n".join(make_test_times.breakdown(_data(), top=2))
    assert "session wall time: 12 min 34 s (3 tests)" in text
    assert "1 failed, 2 passed" in text
    assert "unit tests: 1 in 2 s" in text
    assert "pyinfra: 2 tests in 7 min 32 s" in text
    assert "lab up" in text and "bench QUICK" in text
    slowest = text.split("slowest 2 tests")[1].splitlines()
    assert "test_lab.py::test_y" in slowest[1] and "test_quick" in slowest[2]


def test_a_missing_or_broken_file_is_one_line_and_exit_2(tmp_path, capsys):
    assert make_test_times.main([str(tmp_path / "none.json")]) == 2
    bad = tmp_path / "bad.json"
    bad.write_bytes(b"\xff\xfe")
    assert make_test_times.main([str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(str(tmp_path) in line for line in err)
    good = tmp_path / "t.json"
    good.write_text(json.dumps(_data()))
    assert make_test_times.main([str(good), str(good)]) == 0
    assert "wall time: 12 min 34 s (3 tests)" in capsys.readouterr().out


def test_two_sessions_side_by_side_keep_their_wall_times_and_add_their_tests():
    unit = {
        "wall_seconds": 90.0,
        "tests": {"u::a": {"e2e": False, "lab": "", "outcome": "passed"}},
        "steps": [],
    }
    merged = make_test_times.merge({"unit.json": unit, "e2e.json": _data()})
    text = "\n".join(make_test_times.breakdown(merged))
    assert "unit.json wall time: 1 min 30 s (1 tests)" in text
    assert "e2e.json wall time: 12 min 34 s (3 tests)" in text
    assert "unit tests: 2 in" in text


def test_the_markdown_table_has_each_e2e_check_with_its_lab_and_time():
    lines = make_test_times.markdown_table(_data())
    assert lines[2:] == [
        "| `test_lab.py::test_y` | default | 302 |",
        "| `test_bench.py::test_quick` | default | 150 |",
    ]
