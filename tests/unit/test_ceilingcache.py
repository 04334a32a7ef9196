"""bench/ceilingcache.py: a ceiling is reused only on the same lab (host keys), tool, settings and
sources, while young enough and while its samples are there; reuse copies them and says so."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from webbench_lab.bench import ceiling, ceilingcache
from webbench_lab.bench.plan import Options, effective_suite
from webbench_lab.bench.suites import load_suite
from webbench_lab.hosts.inventory import load_inventory
from webbench_lab.hosts.keys import known_hosts_line, make_host_key


@pytest.fixture(autouse=True)
def state(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("WEBBENCH_LAB_STATE", str(tmp_path / "state"))
    return tmp_path / "state"


@pytest.fixture
def inventory(write_inventory, ssh_files, tmp_path):
    _, known = ssh_files
    lines = []
    for name, address, port in (("gen", "198.18.0.2", 22), ("srv", "198.18.0.3", 2222)):
        lines.append(known_hosts_line(address, port, make_host_key(tmp_path / f"{name}_key")))
    known.write_text("".join(lines))
    return load_inventory(write_inventory())


def _suite():
    return effective_suite(load_suite("web_bench_2011"), Options(quick=True))


def _target():
    return ceiling.Target(200, 30, "/")


def test_the_key_follows_the_host_keys_the_tool_the_settings_and_the_sources(inventory, ssh_files, tmp_path):
    identity = ceilingcache.lab_identity(inventory)
    assert identity is not None and all(h["host_key"].startswith("ssh-ed25519 ") for h in identity)
    suite = _suite()
    base = ceilingcache.key_fields(identity, suite, _target(), "src1")
    key = ceilingcache.cache_key(base)
    assert ceilingcache.cache_key(ceilingcache.key_fields(identity, suite, _target(), "src1")) == key
    changed = [
        ceilingcache.key_fields(identity, suite, _target(), "src2"),
        ceilingcache.key_fields(identity, dataclasses.replace(suite, load_tool="wrk"), _target(), "src1"),
        ceilingcache.key_fields(identity, dataclasses.replace(suite, duration=99), _target(), "src1"),
        ceilingcache.key_fields(identity, suite, ceiling.Target(100, 30, "/"), "src1"),
    ]
    assert len({ceilingcache.cache_key(f) for f in changed} | {key}) == 5
    # A rebuilt lab: the same addresses, new host keys, another key.
    _, known = ssh_files
    known.write_text(
        known_hosts_line("198.18.0.2", 22, make_host_key(tmp_path / "gen_key2"))
        + known_hosts_line("198.18.0.3", 2222, make_host_key(tmp_path / "srv_key2"))
    )
    rebuilt = ceilingcache.lab_identity(inventory)
    assert rebuilt is not None
    assert ceilingcache.cache_key(ceilingcache.key_fields(rebuilt, suite, _target(), "src1")) != key
    # A host whose key is unknown: no identity, nothing reused.
    known.write_text(known_hosts_line("198.18.0.2", 22, make_host_key(tmp_path / "gen_key3")))
    assert ceilingcache.lab_identity(inventory) is None


def _measured(tmp_path: Path) -> tuple[Path, dict]:
    run = tmp_path / "results" / "20261207T000000Z-web_bench_2011"
    (run / "ceiling" / "c200").mkdir(parents=True)
    (run / "ceiling" / "c200" / "siege-0.attempt-1.out").write_text("Transactions: 100 hits\n")
    found = {"concurrency": 200, "rate": 4321.5, "samples": 12, "dir": "ceiling/c200"}
    return run, found


def test_a_stored_ceiling_is_reused_with_its_samples_and_its_origin(tmp_path):
    run, found = _measured(tmp_path)
    ceilingcache.store("k1", {"x": 1}, found, run)
    entry = ceilingcache.lookup("k1", 3600)
    assert entry is not None and entry["run"] == run.name and entry["age_s"] <= 1
    later = tmp_path / "results" / "later"
    out = later / "ceiling" / "c200"
    top = ceilingcache.reuse(entry, out, later)
    assert (top["rate"], top["samples"], top["dir"]) == (4321.5, 12, "ceiling/c200")
    assert top["reused_from"]["run"] == run.name and top["reused_from"]["dir"] == str(run / "ceiling/c200")
    assert (out / "siege-0.attempt-1.out").read_text() == "Transactions: 100 hits\n"


def test_nothing_is_reused_when_too_old_without_a_rate_or_its_samples_or_another_key(tmp_path, state):
    run, found = _measured(tmp_path)
    ceilingcache.store("k1", {}, found, run)
    stored = json.loads((state / "ceilings" / "k1.json").read_text())
    assert ceilingcache.lookup("k1", 3600, now=stored["measured_epoch"] + 3601) is None
    assert ceilingcache.lookup("k1", 0, now=stored["measured_epoch"] + 1) is None
    assert ceilingcache.lookup("k2", 3600) is None
    ceilingcache.store("k3", {}, {**found, "rate": None}, run)
    assert ceilingcache.lookup("k3", 3600) is None
    (run / "ceiling" / "c200" / "siege-0.attempt-1.out").unlink()
    (run / "ceiling" / "c200").rmdir()
    assert ceilingcache.lookup("k1", 3600) is None
    (state / "ceilings" / "k4.json").write_bytes(b"\xff not json")
    assert ceilingcache.lookup("k4", 3600) is None


def test_the_sources_hash_changes_with_a_source_file(tmp_path):
    for top in ceilingcache.SOURCES:
        (tmp_path / top).mkdir()
    (tmp_path / "templates" / "nginx.conf.j2").write_text("a")
    (tmp_path / "webbench_lab" / "__pycache__").mkdir()
    (tmp_path / "webbench_lab" / "__pycache__" / "x.pyc").write_bytes(b"1")
    first = ceilingcache.sources_hash(tmp_path)
    (tmp_path / "webbench_lab" / "__pycache__" / "x.pyc").write_bytes(b"2")
    assert ceilingcache.sources_hash(tmp_path) == first
    (tmp_path / "templates" / "nginx.conf.j2").write_text("b")
    assert ceilingcache.sources_hash(tmp_path) != first
