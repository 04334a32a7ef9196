"""Provision the lab with playbooks/site.yml through ansible_runner.run, from the same inventory file.

What the control machine prepared (and the data that comes from apps/) goes in as extra vars, the
SSH settings are forced to strict host-key checking against each host's known_hosts, and every
task's outcome comes back as runner events, one line per task and host.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from webbench_lab.defaults import host_vars, python_pins
from webbench_lab.errors import LabFailure, UserError
from webbench_lab.hosts.inventory import LabInventory
from webbench_lab.hosts.ssh import CONNECT_TIMEOUT
from webbench_lab.paths import AGENT, PLAYBOOKS, ROLES, state_dir
from webbench_lab.provision.deploys.backend import build_plan
from webbench_lab.provision.deploys.chroot_jail import allowed_entries
from webbench_lab.provision.deploys.site import Artifacts
from webbench_lab.provision.prepare import preflight, prepare
from webbench_lab.provision.result import HostResult, ProvisionResult, print_summary
from webbench_lab.ui import step

PLAYBOOK = "site.yml"
# Tasks that only check inputs or steer the play: not counted as operations on the host.
_BOOKKEEPING = ("ansible.builtin.assert", "ansible.builtin.set_fact", "ansible.builtin.include_role")


def ansible_playbook() -> str:
    """The ansible-playbook beside this Python (the venv), else on PATH; missing is bad input."""
    beside = Path(sys.executable).parent / "ansible-playbook"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("ansible-playbook")
    if not found:
        raise UserError(
            "ansible-playbook: not found beside this Python or on PATH; install ansible-core "
            "(`make venv` installs it into .venv) or use --engine pyinfra"
        )
    return found


def extravars(inventory: LabInventory, bundle: Artifacts) -> dict[str, Any]:
    """The playbooks' inputs from the control machine, SSH settings no inventory can loosen, and
    the same become as every other client of the lab."""
    hosts = inventory.hosts.values()
    ssh = (
        "-o UserKnownHostsFile={{ lab_ssh_known_hosts[inventory_hostname] }} -o StrictHostKeyChecking=yes "
        "-o IdentitiesOnly=yes -o PasswordAuthentication=no"
    )
    out: dict[str, Any] = {
        "lab_ssh_known_hosts": {h.name: str(h.known_hosts) for h in hosts},
        "ansible_ssh_common_args": ssh,
        # Root through sudo exactly where pyinfra and the driver take it (LabHost.become: a
        # non-root ansible_user becomes root unless the inventory says ansible_become: false),
        # where Ansible alone would not become without ansible_become.
        "lab_become": {h.name: h.become for h in hosts},
        "ansible_become": "{{ lab_become[inventory_hostname] }}",
        "go_toolchain_zip": str(bundle.toolchain.zip_path),
        "apps_sources": {"tarball": str(bundle.sources.tarball), "digest": bundle.sources.digest},
        "apps_goproxy": {"tarball": str(bundle.goproxy.tarball), "digest": bundle.goproxy.digest},
        "apps_agent_source": str(AGENT),
        "lab_roles": bundle.roles,
        "backend_build": {},
        "loadgen_k6": str(bundle.k6),
        "python_stack_wheels": {"tarball": str(bundle.wheels.tarball), "digest": bundle.wheels.digest},
        "python_stack_pins": python_pins(),
        "nginx_fcgi_sites": bundle.nginx_sites,
        "chroot_jail_allowed": allowed_entries(bundle.jailed),
    }
    for name in bundle.backend_hosts:
        plan = build_plan(host_vars(inventory.hosts[name].vars), bundle.sources.digest)
        out["backend_build"][name] = plan
    if all(h.key_file for h in hosts):
        out["lab_ssh_keys"] = {h.name: str(h.key_file) for h in hosts}
        out["ansible_ssh_private_key_file"] = "{{ lab_ssh_keys[inventory_hostname] }}"
    return out


def inventory_args(inventory: LabInventory) -> list[str]:
    """Every -i source in the order given, as ansible-inventory merges them; absolute, because
    ansible-playbook runs in the project directory (a host list `a,b,` stays as it is)."""
    return [str(s.resolve()) if s.exists() else str(s) for s in inventory.sources]


def envvars() -> dict[str, str]:
    private = state_dir() / "ansible"
    bindir = str(Path(sys.executable).parent)
    return {
        "PATH": f"{bindir}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "ANSIBLE_ROLES_PATH": str(ROLES),
        "ANSIBLE_HOST_KEY_CHECKING": "True",
        "ANSIBLE_PIPELINING": "True",
        "ANSIBLE_TIMEOUT": str(CONNECT_TIMEOUT),
        "ANSIBLE_SSH_CONTROL_PATH_DIR": str(private / "cp"),
        # One SSH master per host for the run; it ends 10 s after the run, not Ansible's 60 s.
        "ANSIBLE_SSH_ARGS": "-C -o ControlMaster=auto -o ControlPersist=10s",
        "ANSIBLE_LOCAL_TEMP": str(private / "tmp"),
        "ANSIBLE_RETRY_FILES_ENABLED": "False",
        "ANSIBLE_DEPRECATION_WARNINGS": "False",
        "ANSIBLE_SYSTEM_WARNINGS": "False",
        "ANSIBLE_NOCOLOR": "True",
        "ANSIBLE_FORCE_COLOR": "False",
    }


def provision(inventory: LabInventory, check: bool = False) -> ProvisionResult:
    """Run site.yml; with `check`, in check mode with diffs (nothing changes on the hosts)."""
    import ansible_runner

    started = time.monotonic()
    ansible_playbook()
    preflight(inventory)
    bundle = prepare(inventory)
    private = state_dir() / "ansible"
    # ansible-runner reuses private_data_dir/env/ on the next run (a --check would stick).
    shutil.rmtree(private / "env", ignore_errors=True)
    (private / "cp").mkdir(parents=True, exist_ok=True)
    (private / "tmp").mkdir(parents=True, exist_ok=True)

    events = _Events(check)
    runner = ansible_runner.run(
        private_data_dir=str(private),
        project_dir=str(PLAYBOOKS),
        playbook=PLAYBOOK,
        inventory=inventory_args(inventory),
        extravars=extravars(inventory, bundle),
        envvars=envvars(),
        cmdline="--check --diff" if check else None,
        forks=max(1, len(inventory.hosts)),
        suppress_env_files=True,
        rotate_artifacts=5,
        quiet=True,
        event_handler=events.handle,
    )
    if runner.stats is None:
        raise LabFailure(
            f"ansible: the playbook did not run ({runner.status}, rc {runner.rc}); see {private}"
        )
    result = ProvisionResult(engine="ansible", seconds=round(time.monotonic() - started, 1), check=check)
    for name in inventory.hosts:
        result.hosts[name] = events.hosts.get(name, HostResult())
    if events.unreachable:
        raise LabFailure("ansible: " + "; ".join(events.unreachable))
    if runner.status != "successful" and result.ok:
        raise LabFailure(
            f"ansible: the run ended {runner.status} (rc {runner.rc}) with no failed task; see {private}"
        )
    if not check:
        print_summary(result)
    return result


class _Events:
    """Runner events -> one line per task and host, and per-host counts like pyinfra's."""

    def __init__(self, check: bool) -> None:
        self.check = check
        self.hosts: dict[str, HostResult] = {}
        self.unreachable: list[str] = []

    def handle(self, event: dict) -> bool:
        kind = event.get("event", "")
        data = event.get("event_data", {})
        host = data.get("host")
        if not host or kind not in ("runner_on_ok", "runner_on_failed", "runner_on_unreachable"):
            return True
        res = data.get("res") or {}
        name = _task_name(data, res)
        out = self.hosts.setdefault(host, HostResult())
        if kind == "runner_on_unreachable":
            self.unreachable.append(f"host {host}: unreachable: {_first_line(res.get('msg'))}")
            return True
        if res.get("skipped") or data.get("task_action") in _BOOKKEEPING:
            return True
        out.ops += 1
        if kind == "runner_on_failed" and not data.get("ignore_errors"):
            out.failed.append(
                f"{name}: {_first_line(res.get('msg') or res.get('stderr') or res.get('stdout'))}"
            )
            outcome = "[red]FAILED[/red]"
        elif res.get("changed"):
            out.changed += 1
            out.changed_ops.append(name)
            items = [r for r in res.get("results") or [] if isinstance(r, dict) and r.get("changed")]
            for r in items or [res]:
                what = f"{name} [{r.get('_ansible_item_label', r.get('item'))}]" if items else name
                out.details.append({"what": what, **_diff_summary(r)})
            outcome = "[yellow]would change[/yellow]" if self.check else "[yellow]changed[/yellow]"
        else:
            outcome = "[green]ok[/green]"
        if not self.check:
            step(f"{host:16} {outcome}  {name}")
        return True


def _task_name(data: dict, res: dict) -> str:
    name = data.get("task", "")
    role = data.get("role")
    item = res.get("item")
    if isinstance(item, dict):
        item = item.get("dest") or item.get("path") or item.get("name")
    label = f"{role}: {name}" if role else name
    return f"{label} [{item}]" if item not in (None, "") else label


def _diff_summary(res: dict) -> dict[str, str]:
    """What a changed task found and what it wants, in a few words (from its --diff output)."""
    diffs = res.get("diff") or []
    for diff in [diffs] if isinstance(diffs, dict) else diffs:
        if "prepared" in diff:  # apt: "The following NEW packages will be installed: ..."
            return {"expected": "installed", "found": "not installed: " + _apt_missing(str(diff["prepared"]))}
        before, after = diff.get("before"), diff.get("after")
        if isinstance(before, dict) and isinstance(after, dict):
            keys = sorted(k for k in after if before.get(k) != after[k]) or sorted(after)
            return {
                "expected": ", ".join(f"{k}: {after.get(k)}" for k in keys)[:120],
                "found": ", ".join(f"{k}: {before.get(k)}" for k in keys)[:120],
            }
        if isinstance(before, str) or isinstance(after, str):
            return _first_difference(str(before or ""), str(after or ""))
    return {"expected": "as provisioned", "found": "differs"}


def _apt_missing(prepared: str) -> str:
    words: list[str] = []
    taking = False
    for line in prepared.splitlines():
        if "packages will be installed" in line:
            taking = True
        elif taking and line.startswith(" "):
            words.extend(line.split())
        else:
            taking = False
    return " ".join(words) or prepared.strip().splitlines()[0][:80]


def _first_difference(before: str, after: str) -> dict[str, str]:
    """The first line where the file on the host (found) differs from the rendered one (expected)."""
    old, new = before.splitlines(), after.splitlines()
    for i in range(max(len(old), len(new))):
        a = new[i].strip() if i < len(new) else "(no line)"
        b = old[i].strip() if i < len(old) else "(no line)"
        if a != b:
            return {"expected": f"line {i + 1}: {a}"[:120], "found": f"line {i + 1}: {b}"[:120]}
    return {"expected": "as rendered", "found": "differs"}


def _first_line(value: Any) -> str:
    text = str(value or "").strip()
    return text.splitlines()[0][:300] if text else "no message"
