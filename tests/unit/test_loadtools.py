"""Each load tool's parser on real outputs captured on the lab (tests/fixtures/loadtools/)."""

from __future__ import annotations

from pathlib import Path

import pytest

from webbench_lab.bench.loadtools import LoadResult, ParseError, combine, command, parse

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "loadtools"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


def test_siege_summary():
    r = parse("siege", fixture("siege-go-http-c200.txt"))
    assert (r.requests, r.rate, r.failures, r.availability) == (28751, 6579.18, 0, 100.0)
    assert r.elapsed == 4.37 and r.mean_ms == pytest.approx(20.0)


def test_siege_counts_404_answers_as_failures():
    r = parse("siege", fixture("siege-404-b-c100.txt"))
    assert r.requests == 21688 and r.failures == 21688


def test_siege_with_nothing_listening():
    r = parse("siege", fixture("siege-refused-c10.txt"))
    assert r.requests == 0 and r.rate == 0.0 and r.failures == 1033 and r.availability == 0.0


def test_wrk_summary_and_latency_distribution():
    r = parse("wrk", fixture("wrk-go-http-c200.txt"))
    assert (r.requests, r.rate, r.failures) == (164577, 32770.91, 0)
    assert r.elapsed == pytest.approx(5.02)
    assert (r.p50_ms, r.p90_ms, r.p99_ms) == (6.03, 9.35, 11.75)
    assert r.mean_ms == 6.07


def test_wrk_non_2xx_and_microseconds():
    r = parse("wrk", fixture("wrk-404-c50.txt"))
    assert r.failures == 232467 == r.requests and r.availability == 0.0
    assert r.p50_ms == pytest.approx(0.648) and r.p90_ms == pytest.approx(1.11)


def test_wrk_refused_is_a_parse_error_naming_the_tool():
    with pytest.raises(ParseError, match=r"wrk: no summary .*unable to connect"):
        parse("wrk", fixture("wrk-refused-c10.txt"))


def test_k6_summary_export():
    r = parse("k6", fixture("k6-gin-data-c50.json"))
    assert r.requests == 14197 and r.rate == pytest.approx(2830.62, abs=0.01)
    assert r.failures == 0 and r.availability == 100.0
    assert r.p50_ms == pytest.approx(16.39, abs=0.01) and r.p99_ms == pytest.approx(34.69, abs=0.01)
    ping = parse("k6", fixture("k6-gin-ping-c50.json"))
    assert ping.rate > r.rate  # /ping does not wait 15 ms for the upstream API


def test_k6_all_failed():
    r = parse("k6", fixture("k6-refused-c10.json"))
    assert r.failures == r.requests == 31273 and r.availability == 0.0


def test_rates_of_simultaneous_processes_add_up():
    a = LoadResult("siege", 100, 50.0, 0, 2.0, 100.0)
    b = LoadResult("siege", 300, 150.0, 3, 2.1, 99.0)
    both = combine([a, b])
    assert (both.requests, both.rate, both.failures) == (400, 200.0, 3)
    assert both.availability == pytest.approx(99.25)


def test_commands():
    assert command("siege", "http://h:1/x", 100, 20, rc_file="/r") == [
        "siege", "-R", "/r", "-c", "100", "-t", "20S", "http://h:1/x"]  # fmt: skip
    assert command("wrk", "http://h:1/x", 200, 5, threads=1)[:7] == [
        "wrk",
        "-t",
        "1",
        "-c",
        "200",
        "-d",
        "5s",
    ]
    k6 = command("k6", "http://h:1/x", 10, 5, script="/s.js", summary="/o.json")
    assert k6[-1] == "/s.js" and "--summary-export" in k6
