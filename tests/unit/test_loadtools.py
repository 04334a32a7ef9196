"""Each load-tool plug-in: its parser on real outputs captured on the lab (tests/fixtures/loadtools/),
its command line and files, and the registry."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from webbench_lab.bench.loadtools import TOOLS, LoadResult, LoadSpec, LoadTool, ParseError, combine, get

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "loadtools"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


def parse(tool: str, text: str) -> LoadResult:
    return get(tool).parse(text)


def test_siege_summary():
    r = parse("siege", fixture("siege-go-http-c200.txt"))
    assert (r.requests, r.rate, r.failures, r.availability) == (28751, 6579.18, 0, 100.0)
    assert r.elapsed == 4.37 and r.mean_ms == pytest.approx(20.0)
    assert r.bytes_received == round(27.14 * 1024**2)


def test_siege_counts_404_answers_as_failures_and_not_in_the_rate():
    r = parse("siege", fixture("siege-404-b-c100.txt"))
    assert r.requests == 21688 and r.failures == 21688
    assert r.rate == 0.0  # siege's transaction_rate (7915.33) counts the 404 answers


def test_siege_with_nothing_listening():
    r = parse("siege", fixture("siege-refused-c10.txt"))
    assert r.requests == 0 and r.rate == 0.0 and r.failures == 1033 and r.availability == 0.0


def test_wrk_summary_and_latency_distribution():
    r = parse("wrk", fixture("wrk-go-http-c200.txt"))
    assert (r.requests, r.rate, r.failures) == (164577, 32770.91, 0)
    assert r.elapsed == pytest.approx(5.02)
    assert (r.p50_ms, r.p90_ms, r.p99_ms) == (6.03, 9.35, 11.75)
    assert r.mean_ms == 6.07
    assert r.bytes_received == round(173.90 * 1024**2)


def test_wrk_non_2xx_and_microseconds():
    r = parse("wrk", fixture("wrk-404-c50.txt"))
    assert r.failures == 232467 == r.requests and r.availability == 0.0
    assert r.rate == 0.0  # wrk's Requests/sec (77460.47) counts the 404 answers
    assert r.p50_ms == pytest.approx(0.648) and r.p90_ms == pytest.approx(1.11)


def test_wrk_refused_is_a_parse_error_naming_the_tool():
    with pytest.raises(ParseError, match=r"wrk: no summary .*unable to connect"):
        parse("wrk", fixture("wrk-refused-c10.txt"))


def test_k6_summary_export():
    r = parse("k6", fixture("k6-gin-data-c50.json"))
    assert r.requests == 14197 and r.rate == pytest.approx(2830.62, abs=0.01)
    assert r.failures == 0 and r.availability == 100.0
    assert r.p50_ms == pytest.approx(16.39, abs=0.01) and r.p99_ms == pytest.approx(34.69, abs=0.01)
    assert r.bytes_received == 2337924
    ping = parse("k6", fixture("k6-gin-ping-c50.json"))
    assert ping.rate > r.rate  # /ping does not wait 15 ms for the upstream API


def test_k6_all_failed():
    r = parse("k6", fixture("k6-refused-c10.json"))
    assert r.failures == r.requests == 31273 and r.availability == 0.0
    assert r.rate == 0.0  # k6's http_reqs rate (15613/s) counts the refused connections


def test_k6_every_request_timed_out_is_zero_qps_with_latency_at_the_timeout():
    """k6-timeout-c10.json: 10 VUs, 3 s, a 2 s timeout against a server that answers after 10 s.
    k6 counts each timed-out request in http_reqs and http_req_failed and records its duration."""
    r = parse("k6", fixture("k6-timeout-c10.json"))
    assert (r.requests, r.failures, r.rate, r.availability) == (20, 20, 0.0, 0.0)
    for latency in (r.p50_ms, r.p90_ms, r.p99_ms, r.mean_ms):
        assert latency == pytest.approx(2000, abs=5)  # the timeout (k6 leaves out connecting)
    assert r.elapsed == pytest.approx(4.007, abs=0.01)  # 3 s and the last requests' 2 s timeout
    assert r.bytes_received == 0


def test_k6_some_requests_timed_out_only_the_answered_ones_are_the_rate():
    """k6-mix-timeout-c10.json: 10 VUs, 5 s, a 2 s timeout; every third request takes 10 s."""
    r = parse("k6", fixture("k6-mix-timeout-c10.json"))
    assert (r.requests, r.failures) == (88, 30)
    assert r.rate == pytest.approx(14.6113 * 58 / 88, abs=0.001)
    assert r.availability == pytest.approx(100 * 58 / 88)
    assert r.p50_ms == pytest.approx(1.44, abs=0.01) and r.p99_ms == pytest.approx(2001.05, abs=0.01)


def test_rates_of_simultaneous_processes_add_up():
    a = LoadResult("siege", 100, 50.0, 0, 2.0, 100.0)
    b = LoadResult("siege", 300, 150.0, 3, 2.1, 99.0)
    both = combine([a, b])
    assert (both.requests, both.rate, both.failures) == (400, 200.0, 3)
    assert both.availability == pytest.approx(99.25)


SPEC = LoadSpec(
    url="http://h:1/x",
    concurrency=100,
    seconds=20,
    workdir="/w",
    prefix="r1-0",
    settings={"loadgen_siege_benchmark": False, "loadgen_siege_limit": 255, "redis_seed_count": 7},
    cpus=2,
)


def test_siege_invocation_renders_its_siegerc():
    inv = get("siege").invocation(SPEC)
    assert inv.argv == ["siege", "-R", "/w/r1-0.siegerc", "-c", "100", "-t", "20S", "http://h:1/x"]
    rc = inv.files["r1-0.siegerc"]
    assert "concurrent = 100" in rc and "benchmark = False" in rc and "json_output = true" in rc
    assert inv.result_file is None  # the figures are on its output


def test_siege_limit_grows_with_a_share_above_it():
    inv = get("siege").invocation(dataclasses.replace(SPEC, concurrency=300))
    assert "limit = 300" in inv.files["r1-0.siegerc"]


def test_wrk_invocation_uses_a_thread_per_cpu_at_most():
    assert get("wrk").invocation(SPEC).argv == [
        "wrk", "-t", "2", "-c", "100", "-d", "20s", "--latency", "http://h:1/x"]  # fmt: skip
    one = get("wrk").invocation(dataclasses.replace(SPEC, concurrency=1))
    assert one.argv[1:3] == ["-t", "1"] and one.files == {}


def test_k6_invocation_writes_its_script_and_reads_its_summary_export():
    inv = get("k6").invocation(dataclasses.replace(SPEC, timeout=45))
    assert inv.argv[-1] == "/w/r1-0.js" and inv.result_file == "/w/r1-0.summary.json"
    assert inv.argv[inv.argv.index("--summary-export") + 1] == inv.result_file
    script = inv.files["r1-0.js"]
    assert 'const target = "http://h:1";' in script and 'const endpoint = "/x";' in script
    assert "Math.random() * 7" in script
    assert '{ timeout: "45s" }' in script


def test_k6_runs_the_scripts_scenario_with_a_graceful_stop_past_the_timeout():
    """The VUs and duration are the script's constant-vus scenario; k6's --vus/--duration (or
    -u/-d, --iterations, --stage) would replace it, so none is given."""
    tool = get("k6")
    for timeout in (2, 60):
        spec = dataclasses.replace(SPEC, timeout=timeout)
        inv = tool.invocation(spec)
        script = inv.files["r1-0.js"]
        options = script[script.index("export const options") : script.index("};") + 2]
        assert 'executor: "constant-vus"' in options and "vus: 100," in options
        assert 'duration: "20s"' in options
        stop = int(options.split('gracefulStop: "')[1].split("s")[0])
        assert stop >= timeout and stop == tool.overrun(spec)
        assert f'{{ timeout: "{timeout}s" }}' in script
        flags = {"--vus", "-u", "--duration", "-d", "--iterations", "-i", "--stage", "-s"}
        assert not flags & set(inv.argv)


def test_siege_and_wrk_stop_at_their_duration():
    assert get("siege").overrun(SPEC) == 0.0 and get("wrk").overrun(SPEC) == 0.0


def test_the_registry_names_every_plug_in():
    assert set(TOOLS) == {"siege", "wrk", "k6"}
    for name, tool in TOOLS.items():
        assert isinstance(tool, LoadTool) and tool.name == name
        assert tool.rate_unit in ("transactions", "requests")


@pytest.mark.parametrize(
    ("tool", "name"),
    [("siege", "siege-silent-c10.txt"), ("wrk", "wrk-silent-c10.txt"), ("k6", "k6-silent-c10.json")],
)
def test_a_run_with_zero_finished_requests_is_zero_not_an_error(tool, name):
    """A server that never answers: every tool says so with zeros, and no latency is made up."""
    r = parse(tool, fixture(name))
    assert r.tool == tool and r.requests == 0 and r.rate == 0.0 and r.availability == 0.0
    assert r.bytes_received == 0
    assert (r.p50_ms, r.p90_ms, r.p99_ms, r.mean_ms) == (None, None, None, None)
