"""compare: the machine moving between two runs, told from one system changing (bench/shift.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.unit.test_compare import make_run
from webbench_lab.bench import compare, shift

SYSTEMS = ["go-http", "tornado", "tornado-nginx", "gevent", "webpy-gunicorn", "webpy-cherrypy"]
BASE = [3600.0, 1000.0, 800.0, 850.0, 1170.0, 1000.0]


def rates(mean: float, rng, n: int = 4, rsd: float = 0.02) -> list[float]:
    return [float(x) for x in mean * np.exp(rng.normal(0, rsd, n))]


def pair(tmp_path, factor: float, apart: dict[str, float] | None = None, seed: int = 3):
    """Runs A and B of the six Lab A systems at level 1; B is A times `factor`, and a system in
    `apart` also times its own factor."""
    rng = np.random.default_rng(seed)
    apart = apart or {}
    a = {(s, 1, "hello"): rates(m, rng) for s, m in zip(SYSTEMS, BASE, strict=True)}
    b = {
        (s, 1, "hello"): rates(m * factor * apart.get(s, 1.0), rng)
        for s, m in zip(SYSTEMS, BASE, strict=True)
    }
    return make_run(tmp_path, "a", a), make_run(tmp_path, "b", b)


def test_the_whole_machine_slower_is_a_common_shift_and_no_system_moved_apart(tmp_path):
    a, b = pair(tmp_path, 0.8)
    c = compare.compare(a, b)
    assert c.counts["slower"] == 6  # each case alone: slower
    assert c.common is not None and c.common.significant and c.common.ratio == pytest.approx(0.8, rel=0.03)
    assert all(x.relative is not None and x.relative.verdict == "moved with the rest" for x in c.cases)
    text = c.markdown()
    assert f"the 6 cases moved together by a median of {(c.common.ratio - 1) * 100:+.1f}% (B/A" in text
    assert "not one system" in text and "No case moved apart from the rest beyond the threshold." in text
    assert json.loads(c.json())["shift"]["significant"] is True


def test_one_system_that_regressed_on_a_slower_machine_is_named(tmp_path):
    a, b = pair(tmp_path, 0.8, {"gevent": 0.7})
    c = compare.compare(a, b)
    gevent = next(x for x in c.cases if x.system == "gevent")
    assert gevent.relative.verdict == "slower than the rest" and gevent.relative.ratio == pytest.approx(
        0.7, rel=0.05
    )
    others = [x.relative.verdict for x in c.cases if x.system != "gevent"]
    assert set(others) == {"moved with the rest"}
    (line,) = [ln for ln in c.shift_lines() if ln.startswith("Cases that moved apart")]
    assert "gevent L1 hello: slower than the rest (-3" in line
    assert json.loads(c.json())["cases"][3]["relative"]["verdict"] == "slower than the rest"


def test_a_steady_machine_has_no_shift_and_a_faster_system_is_faster_than_the_rest(tmp_path):
    a, b = pair(tmp_path, 1.0, {"tornado": 1.25}, seed=5)
    c = compare.compare(a, b)
    assert c.common is not None and not c.common.significant
    assert c.shift_lines()[0].startswith("Common shift of the machine: none detected (median B/A ")
    assert c.common.ratio == pytest.approx(1.0, abs=0.03)
    tornado = next(x for x in c.cases if x.system == "tornado")
    assert tornado.relative.verdict == "faster than the rest"


def test_too_few_cases_leave_the_shift_unknown():
    assert shift.common([([1.0, 1.1], [0.8, 0.9]), ([2.0, 2.1], [1.6, 1.7])]) is None
    assert shift.common([([1.0], [0.8]), ([2.0, 2.1], [1.6, 1.7]), ([3.0, 3.1], [2.4, 2.5])]) is None
    line = shift.lines(None, [], 2)[0]
    assert line.startswith("Common shift of the machine: unknown (2 case(s) compared; it needs 3")


def test_a_case_with_too_few_repeats_gets_no_relative_verdict():
    common = shift.common([([1.0, 1.1], [0.8, 0.9])] * 3)
    assert common is not None
    assert shift.relative([1.0], [0.8, 0.9], common, 5.0) is None
    same = shift.relative([1.0, 1.0], [0.8, 0.8], shift.Shift(0.8, 0.01, 3, 0.8, 0.8), 5.0)
    assert same is not None and (same.verdict, same.p) == ("moved with the rest", 1.0)


def test_compare_html_says_the_shift(tmp_path):
    from webbench_lab.bench import comparehtml

    a, b = pair(tmp_path, 0.8)
    page = comparehtml.html(compare.compare(a, b))
    assert '<div id="shift"><p>Common shift of the machine: the 6 cases moved together' in page
