"""Runtime state in an audit, apart from the setup: what the lab's commands made or run, which
provisioning neither creates nor repairs, so it is never drift.

- Binaries that `app build` made: every executable in the build root but those provisioning puts
  there (k6 and its link, the upstream API), and each jailed system's folder and binary in the jail.
- Listening ports: provisioning starts no service (package installs start none, policy-rc.d); Redis,
  the upstream API and the systems run under the lab's agent while they are used, and anything
  else listening is the host's own, so every listening port is what runs now.

Each host audit records the rule it is split by (`runtime_rule`, from collect.runtime_rule), so an
audit.json alone says what was runtime on its hosts; an audit taken before rules were recorded is
split by the current one's. Plain data only here: diff and report import it.
"""

from __future__ import annotations

from typing import Any

RULE = "runtime_rule"  # the key of a host audit that holds its rule
SECTIONS = ("binaries", "jail", "ports")  # the sections that can hold runtime state


def split(host: dict[str, Any], rule: dict[str, Any] | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """(setup, runtime) of one host audit, by `rule` (default: the host's own). The setup is the
    host audit without its runtime entries and without its rule; the runtime is {"binaries",
    "jail", "ports"}. Without any rule, only the ports are runtime (nothing says which binary is
    whose). A section that failed stays null in the setup (its reason is under "errors")."""
    rule = rule if rule is not None else host.get(RULE)
    setup = {key: value for key, value in host.items() if key not in ("ports", RULE)}
    ports = host.get("ports")
    runtime: dict[str, Any] = {"binaries": {}, "jail": [], "ports": ports if isinstance(ports, list) else []}
    if not rule:
        return setup, runtime
    owned = set(rule.get("provisioned_binaries") or [])
    built = set(rule.get("built_jail_entries") or [])
    binaries = host.get("binaries")
    if isinstance(binaries, dict):
        setup["binaries"] = {path: info for path, info in binaries.items() if path in owned}
        runtime["binaries"] = {path: info for path, info in binaries.items() if path not in owned}
    jail = host.get("jail")
    if isinstance(jail, list):
        setup["jail"] = [e for e in jail if not _built(e, built)]
        runtime["jail"] = [e for e in jail if _built(e, built)]
    return setup, runtime


def _built(entry: Any, built: set[str]) -> bool:
    return isinstance(entry, dict) and entry.get("path") in built


def is_empty(runtime: dict[str, Any]) -> bool:
    return not any(runtime.get(section) for section in SECTIONS)
