"""A generator ceiling measured by one run, reused by later runs on the same lab (issue 29).

Every run measured its ceilings anew: a minute or more of each full run, and most of a QUICK one.
A ceiling depends on the generators, the load tool and its settings, the target's replies and the
lab's code, so a later run reuses one only when all of those are the same, keyed by:

- the lab's identity: each host's name, address and SSH host key (a rebuilt lab has new keys, a
  real machine keeps its own), the generators' and the server's CPUs;
- the load tool, the suite's warm-up, and the target (concurrency, duration, timeout, endpoint);
- the hash of the lab's own sources (the package, templates, roles and apps: what provisions the
  tool and serves the ceiling's replies, and the runner that drives it).

It is also reused only while it is younger than a maximum age (the machine's speed drifts: issue
30), and only when the run that measured it still has its directory: its raw outputs and samples
are copied into the new run's ceiling/<key>/, so each results directory keeps the samples that
prove its ceilings. The manifest's entry says where it came from (`reused_from`).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from webbench_lab.bench import ceiling
from webbench_lab.bench.plan import settings
from webbench_lab.bench.suites import Suite
from webbench_lab.hosts.inventory import LabInventory
from webbench_lab.paths import REPO, state_dir

DEFAULT_MAX_AGE_S = 3600  # a ceiling older than this is measured again
SOURCES = ("webbench_lab", "templates", "roles", "apps", "playbooks")


def cache_root() -> Path:
    """Beside the lab's state (not in cache/: `make clean-cache` must not be what makes a ceiling
    stale, its key is)."""
    return state_dir() / "ceilings"


def sources_hash(repo: Path = REPO) -> str:
    """sha256 over the lab's own source files (path and bytes), compiled files left out."""
    digest = hashlib.sha256()
    for top in SOURCES:
        for path in sorted((repo / top).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                digest.update(str(path.relative_to(repo)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def host_key(address: str, port: int, known_hosts: Path) -> str | None:
    """The host's SSH key as the lab's known_hosts has it (strict checking: the key every client
    of the run checked), as '<type> <sha256>'; None when it is not there."""
    import paramiko  # here: the command line imports this module before any command runs

    try:
        keys = paramiko.HostKeys(str(known_hosts))
    except (OSError, paramiko.SSHException, UnicodeDecodeError):
        return None
    entry = keys.lookup(address if port == 22 else f"[{address}]:{port}")
    if not entry:
        return None
    name = sorted(entry.keys())[0]
    return f"{name} {hashlib.sha256(entry[name].asbytes()).hexdigest()}"


def lab_identity(inventory: LabInventory) -> list[dict[str, Any]] | None:
    """Each host's name, groups, address, port, CPUs and host key; None when a key is unknown
    (then nothing says the hosts are the same machines, and nothing is reused)."""
    hosts = []
    for name, host in sorted(inventory.hosts.items()):
        key = host_key(host.address, host.port, host.known_hosts)
        if key is None:
            return None
        hosts.append(
            {"name": name, "groups": list(host.groups), "address": host.address, "port": host.port,
             "cpus": host.cpus, "cpu_limit": host.cpu_limit, "host_key": key}
        )  # fmt: skip
    return hosts


def key_fields(
    identity: list[dict[str, Any]], suite: Suite, target: ceiling.Target, sources: str
) -> dict[str, Any]:
    """What a ceiling depends on (the module's docstring)."""
    _concurrency, duration, _timeout = settings(suite, target.case())
    return {
        "lab": identity,
        "load_tool": suite.load_tool,
        "warmup": suite.warmup,
        "concurrency": target.concurrency,
        "duration": duration,
        "timeout": target.timeout,
        "endpoint": target.endpoint,
        "sources": sources,
    }


def cache_key(fields: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:32]


def lookup(key: str, max_age_s: float, now: float | None = None) -> dict[str, Any] | None:
    """The cached entry for `key` if it is young enough and its run's ceiling directory is still
    there; else None (measure again)."""
    path = cache_root() / f"{key}.json"
    try:
        entry = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    age = (now if now is not None else time.time()) - float(entry.get("measured_epoch", 0))
    source = Path(entry.get("ceiling_dir", ""))
    if not 0 <= age <= max_age_s or not entry.get("ceiling", {}).get("rate") or not source.is_dir():
        return None
    return {**entry, "age_s": round(age)}


def store(key: str, fields: dict[str, Any], found: dict[str, Any], results_path: Path) -> None:
    """Remember a ceiling this run measured (with a rate) for later runs."""
    if not found.get("rate") or not found.get("dir"):
        return
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    entry = {
        "fields": fields,
        "ceiling": found,
        "run": results_path.name,
        "ceiling_dir": str((results_path / found["dir"]).resolve()),
        "measured_epoch": time.time(),
        "measured_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    tmp = root / f".{key}.json.tmp"
    tmp.write_text(json.dumps(entry, indent=1) + "\n")
    tmp.replace(root / f"{key}.json")


def reuse(entry: dict[str, Any], out_dir: Path, results_path: Path) -> dict[str, Any]:
    """Copy the measuring run's ceiling directory into this run's `out_dir` and return the
    manifest's entry: the same figures, with where they came from."""
    shutil.copytree(entry["ceiling_dir"], out_dir, dirs_exist_ok=True)
    return {
        **entry["ceiling"],
        "dir": str(out_dir.relative_to(results_path)),
        "reused_from": {
            "run": entry["run"],
            "dir": entry["ceiling_dir"],
            "measured_at": entry["measured_at"],
            "age_s": entry["age_s"],
        },
    }
