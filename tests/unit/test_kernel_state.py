"""benchmarks/kernel_state.py (issue 30, point 0): what of the kernel's state moves with the rates."""

from __future__ import annotations

import json
import math

from benchmarks import kernel_state as ks


def test_proc_files_are_read_as_numbers():
    assert ks.sockstat("sockets: used 15\nTCP: inuse 6 orphan 0 tw 4 alloc 12 mem 218\n") == {
        "sockets.used": 15, "TCP.inuse": 6, "TCP.orphan": 0, "TCP.tw": 4, "TCP.alloc": 12, "TCP.mem": 218,
    }  # fmt: skip
    text = "          CPU0       CPU1\n      HI:  1  2\n   NET_RX:  10  32\n   TIMER: 5 5\n"
    assert ks.softirqs(text) == {"softirq.NET_RX": 42, "softirq.TIMER": 10}
    slabinfo = (
        "slabinfo - version: 2.1\n# name <active_objs> <num_objs> <objsize> ...\n"
        "dentry 1000 1024 192 21 1\nkmalloc-64 10 64 64 64 1\n"
    )
    assert ks.slabs(slabinfo, top=1) == {"slab.dentry_kib": 1000 * 192 // 1024}  # active objects x size
    assert ks.cpu_stat("cpu  1 2 3 4 5 6 7 8 0 0\ncpu0 1 1 1 1 1 1 1 1 0 0\n") == {
        "cpu.system": 3, "cpu.iowait": 5, "cpu.softirq": 7, "cpu.steal": 8,
    }  # fmt: skip
    live = ks.sample()  # this machine's own /proc
    assert live["procs"] > 1 and live["mem.Slab_kib"] > 0 and "softirq.NET_RX" in live


def test_counters_become_rates_between_samples():
    rows = ks.per_second(
        [
            {"epoch": 0.0, "softirq.NET_RX": 100, "TCP.tw": 3},
            {"epoch": 2.0, "softirq.NET_RX": 300, "TCP.tw": 5},
        ]
    )
    assert rows == [{"epoch": 0.0, "TCP.tw": 3}, {"epoch": 2.0, "TCP.tw": 5, "softirq.NET_RX/s": 100.0}]


def test_what_tracks_the_rates_ranks_first_and_what_only_grows_tracks_time():
    """Two cases falling together, with ups and downs; `noise` follows the ups and downs, `grows`
    only the clock, `constant` says nothing."""
    wobble = [0.0, 0.1, -0.05, 0.08, -0.1, 0.02, 0.12, -0.07]
    repeats, samples = [], []
    for i, w in enumerate(wobble):
        t = 100.0 * i
        samples.append({"epoch": t - 1, "noise": 50 + 100 * w, "grows": i, "constant": 7})
        for case, base in (("go", 3000.0), ("tornado", 800.0)):
            repeats.append((case, t + (1 if case == "go" else 2), base * math.exp(w - 0.02 * i)))
    rows = {r["quantity"]: r for r in ks.relate(samples, repeats)}
    assert "constant" not in rows
    assert rows["noise"]["rho_rate"] > 0.7 and rows["noise"]["p"] < 0.01
    assert rows["grows"]["rho_time"] > 0.99 and abs(rows["grows"]["rho_rate"]) < rows["noise"]["rho_rate"]
    assert next(iter(ks.relate(samples, repeats)))["quantity"] == "noise"


def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys):
    bad = tmp_path / "k.jsonl"
    bad.write_bytes(b"\xff\xfe not utf-8")
    assert ks.main(["relate", str(bad), str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"kernel_state: {bad}: cannot read samples") and "\n" not in err
    bad.write_text(json.dumps({"epoch": 1.0}) + "\n")
    assert ks.main(["relate", str(bad), str(tmp_path / "nothing")]) == 2
    err = capsys.readouterr().err.strip()
    assert (
        err.startswith(f"kernel_state: {tmp_path / 'nothing'}: not a results directory") and "\n" not in err
    )
