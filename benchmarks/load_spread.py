"""Where a server-bound figure's spread comes from: a system started several times, several loads
per start, each load's rate and the server's CPU per request (user and system), with the bench
links' receive steering on or off. Run on an idle local lab (`make lab`), as root:

    .venv/bin/python benchmarks/load_spread.py tornado --starts 3 --loads 4 --steer on

One JSON line per load (and into --out): the rate siege reports, the server processes' user and
system seconds over the load (their /proc stat), the generator's CPU seconds (siege's), the
server's listen-queue overflows. Tick-based accounting (this machine's kernel has no IRQ time
accounting) charges softirq work to the process it interrupted, so "sys" holds the network work
done on the server's CPU. The script restores the steering `lab up` set when it ends.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from webbench_lab.hosts.control import HostControl
from webbench_lab.hosts.inventory import load_inventory
from webbench_lab.locallab.network import BENCH_IF, rps_mask
from webbench_lab.locallab.topology import NETNS_PREFIX
from webbench_lab.paths import LOCAL_INVENTORY, REPO
from webbench_lab.templating import render

WBL = str(REPO / ".venv" / "bin" / "webbench-lab")
RPS = f"/sys/class/net/{BENCH_IF}/queues/rx-0/rps_cpus"


def steer(hosts, on: bool) -> None:
    for host in hosts:
        ns = NETNS_PREFIX + host.name.removeprefix("lab-")
        mask = rps_mask(host.cpus) if on else "0"
        subprocess.run(["ip", "netns", "exec", ns, "sh", "-c", f"echo {mask} > {RPS}"], check=True)


def server_counters(srv: HostControl, pids: list[int]) -> tuple[int, int, int]:
    """(user ticks, system ticks, listen overflows) of the system's processes and the host."""
    out = srv.sh(f"cat {' '.join(f'/proc/{p}/stat' for p in pids)}; grep TcpExt: /proc/net/netstat").stdout
    lines = out.splitlines()
    user = system = 0
    for line in lines[: len(pids)]:
        fields = line.rsplit(")", 1)[1].split()
        user, system = user + int(fields[11]), system + int(fields[12])
    names, values = (line.split()[1:] for line in lines if line.startswith("TcpExt:"))
    return user, system, dict(zip(names, map(int, values), strict=True))["ListenOverflows"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("system")
    parser.add_argument("--starts", type=int, default=3)
    parser.add_argument("--loads", type=int, default=4)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--steer", choices=["on", "off"], default="on")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    inventory = load_inventory(LOCAL_INVENTORY)
    gen_host, srv_host = inventory.group("generator")[0], inventory.group("server")[0]
    port = yaml.safe_load((REPO / "apps" / args.system / "system.yml").read_text())["port"]
    url = f"http://{srv_host.bench_address}:{port}/Hello/100"
    defaults = yaml.safe_load((REPO / "roles" / "loadgen" / "defaults" / "main.yml").read_text())
    siegerc = render("generator/siegerc.j2", **{**defaults, **gen_host.vars, "concurrency": 200})
    hz = 100  # USER_HZ: /proc's unit
    rates = []
    steer([gen_host, srv_host], args.steer == "on")
    try:
        with HostControl(gen_host) as gen, HostControl(srv_host) as srv:
            gen.sh("cat > /tmp/load_spread.siegerc", stdin=siegerc)
            siege = "siege -R /tmp/load_spread.siegerc -c 200"
            for start in range(args.starts):
                subprocess.run(
                    [WBL, "app", "start", args.system, "--level", "1"], check=True, capture_output=True
                )
                try:
                    pids = srv.agent("status", args.system)["systems"][args.system]["processes"]
                    gen.sh(f"{siege} -t 3S {url} >/dev/null 2>&1", check=False)  # warm-up
                    for load in range(args.loads):
                        time.sleep(3)
                        user0, sys0, ovf0 = server_counters(srv, pids)
                        # siege's CPU: the shell's reaped children's time, read after it exits
                        out = (
                            gen.sh(
                                f"{siege} -t {args.seconds}S {url} 2>/dev/null; echo; cat /proc/$$/stat",
                                check=False,
                                timeout=args.seconds + 60,
                            )
                            .stdout.strip()
                            .splitlines()
                        )
                        user1, sys1, ovf1 = server_counters(srv, pids)
                        shell = out[-1].rsplit(")", 1)[1].split()
                        text = "\n".join(out[:-1])
                        summary = json.loads(text[text.index("{") : text.rindex("}") + 1])
                        tx = summary["transactions"]
                        row = {
                            "system": args.system,
                            "steer": args.steer,
                            "start": start,
                            "load": load,
                            "rate": summary["transaction_rate"],
                            "transactions": tx,
                            "user_us_per_request": round((user1 - user0) / hz / tx * 1e6, 1),
                            "sys_us_per_request": round((sys1 - sys0) / hz / tx * 1e6, 1),
                            "generator_cpu_s": (int(shell[13]) + int(shell[14])) / hz,
                            "listen_overflows": ovf1 - ovf0,
                        }
                        rates.append(row["rate"])
                        line = json.dumps(row)
                        print(line, flush=True)
                        if args.out:
                            with args.out.open("a") as out_file:
                                out_file.write(line + "\n")
                finally:
                    subprocess.run([WBL, "app", "stop", args.system], check=True, capture_output=True)
    finally:
        steer([gen_host, srv_host], True)  # as lab up left it
    if len(rates) > 1:
        mean = statistics.mean(rates)
        print(f"{len(rates)} loads: mean {mean:,.0f}/s, RSD {statistics.stdev(rates) / mean * 100:.1f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
