"""`webbench-lab audit`: what every host of the lab is made of, collected read-only over SSH.

The collector (agent/auditor.py, standard library only) travels inside the command line, so the
audit writes nothing on the hosts, not even a temporary file. What to look at comes from the same
role defaults both engines provision from.
"""

from __future__ import annotations

import base64
import json
import shlex
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from webbench_lab.agent.auditor import AuditSpec
from webbench_lab.apps.builds import jail_entries
from webbench_lab.apps.models import run_as
from webbench_lab.apps.services import BACKEND
from webbench_lab.apps.systems import all_systems
from webbench_lab.audit import runtime
from webbench_lab.audit.report import render_markdown
from webbench_lab.defaults import host_vars
from webbench_lab.errors import LabFailure
from webbench_lab.fsutil import new_dir, write_atomic
from webbench_lab.hosts.control import HostControl, read_answer
from webbench_lab.hosts.inventory import LabHost, LabInventory
from webbench_lab.paths import COLLECTOR, REPO
from webbench_lab.provision.roles import roles_of

SYSCTLS = [
    "net.core.somaxconn",
    "net.ipv4.tcp_max_syn_backlog",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.tcp_tw_reuse",
    "fs.file-max",
]
SCHEMA = 2  # 2: each host audit holds its runtime_rule


def default_root() -> Path:
    return REPO / "audits"


def host_spec(host: LabHost) -> AuditSpec:
    """What the collector looks at on `host`: the lab's packages, files and tools for its groups."""
    v = host_vars(host.vars)
    server, generator = "server" in host.groups, "generator" in host.groups
    packages = [p for role in roles_of(host.groups) for p in v.get(f"{role}_packages", [])]
    goroot = f"{v['go_toolchain_root']}/{v['go_toolchain_version']}"
    return {
        "app_user": v["common_app_user"],
        "run_as": run_as(v["common_app_user"]),
        "bench_address": host.bench_address,
        "packages": packages,
        "sysctls": SYSCTLS,
        "venv": v["python_stack_venv"] if server else None,
        "go": "/usr/local/bin/go",
        "config_files": [
            v["common_apt_proxy_file"],
            v["common_policy_rc"],
            f"{goroot}/go.env",
        ],
        "config_dirs": [v["common_config_dir"]],
        "config_globs": [f"{v['apps_root']}/current/*/system.yml"],
        "binary_globs": [f"{v['apps_build_root']}/*/*"] + ([v["loadgen_k6_link"]] if generator else []),
        "go_sum_globs": [f"{v['apps_root']}/current/*/go.sum"],
        "jail": v["chroot_jail_dir"] if server else None,
        "tools": {"nginx": server, "siege": generator, "wrk": generator, "k6": generator},
        "siege_rc": v["loadgen_siegerc"] if generator else None,
    }


def runtime_rule(host: LabHost) -> dict[str, list[str]]:
    """Which of the host's binaries provisioning installs (k6 and its link, the upstream API: the
    build root's others are `app build`'s), and what `app build` installs in the jail (the rule
    provisioning keeps them by): what audit/runtime.py splits the host's audit by."""
    v = host_vars(host.vars)
    provisioned = {v["loadgen_k6_path"], v["loadgen_k6_link"], f"{v['apps_build_root']}/{BACKEND}/{BACKEND}"}
    jailed = sorted(name for name, system in all_systems().items() if system.chroot)
    return {"provisioned_binaries": sorted(provisioned), "built_jail_entries": jail_entries(jailed)}


def collector_command(spec: AuditSpec) -> str:
    """python3 running the collector from its base64 text: nothing is copied to the host."""
    code = base64.b64encode(COLLECTOR.read_bytes()).decode()
    boot = (
        "import base64, sys; ns = {'__name__': 'auditor'}; "
        "exec(compile(base64.b64decode(sys.argv[1]), 'auditor.py', 'exec'), ns); "
        "sys.exit(ns['main'](sys.argv[2:]))"
    )
    return shlex.join(["python3", "-B", "-c", boot, code, json.dumps(spec, sort_keys=True)])


def collect_host(hc: HostControl) -> dict[str, Any]:
    host = hc.host
    result = hc.sh(collector_command(host_spec(host)), timeout=300, check=False)
    data = read_answer(host.name, result, "the audit collector")
    if "error" in data and len(data) == 1:
        raise LabFailure(f"host {host.name}: audit collector: {data['error']}")
    return {
        "groups": list(host.groups),
        "address": host.address,
        "bench_address": host.bench_address,
        "cpus": host.cpus,
        **data,
        runtime.RULE: runtime_rule(host),
    }


def collect(inventory: LabInventory, controls: dict[str, HostControl] | None = None) -> dict[str, Any]:
    """Audit every host at once (over `controls` when the caller has them open)."""
    started = time.monotonic()
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())

    def one(host: LabHost) -> dict[str, Any]:
        if controls and host.name in controls:
            return collect_host(controls[host.name])
        with HostControl(host) as hc:
            return collect_host(hc)

    with ThreadPoolExecutor(max_workers=len(inventory.hosts)) as pool:
        hosts = dict(zip(inventory.hosts, pool.map(one, inventory.hosts.values()), strict=True))
    return {
        "schema": SCHEMA,
        "collected_at": stamp,
        "seconds": round(time.monotonic() - started, 1),
        "inventory": inventory.label,
        "lab_commit": git_commit(),
        "hosts": hosts,
    }


def write(audit: dict[str, Any], directory: Path) -> None:
    """audit.json and audit.md into `directory` (each written atomically)."""
    write_atomic(directory / "audit.json", json.dumps(audit, indent=2, sort_keys=True) + "\n")
    write_atomic(directory / "audit.md", render_markdown(audit))


def store(audit: dict[str, Any], root: Path, inventory: LabInventory) -> Path:
    """A new audits/<UTC>-<inventory>/ for this audit; an older one is never overwritten."""
    directory = new_dir(root, inventory.name)
    write(audit, directory)
    return directory


def git_commit() -> str:
    proc = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain"], capture_output=True, text=True)
    commit = proc.stdout.strip() or "unknown"
    return commit + ("+uncommitted changes" if dirty.stdout.strip() else "")
