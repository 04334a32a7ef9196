"""audit.md: a lab audit (agent/auditor.py per host) as a document a sysadmin can read and check
against the hosts, each host's setup first and its runtime state apart (audit/runtime.py), and
drift (audit/diff.py) as a table. A missing value is shown as "—"."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from webbench_lab.audit import runtime
from webbench_lab.audit.diff import Drift

MISSING = "—"


# --- markdown helpers --------------------------------------------------------------------------------


def _cell(value: Any) -> str:
    """A table cell: one line, pipes escaped, "—" for nothing."""
    if value is None or value == "" or value == []:
        return MISSING
    if isinstance(value, list):
        value = ", ".join(str(v) for v in value)
    return str(value).replace("|", "\\|").replace("\n", "<br>")


def _table(header: list[str], rows: Iterable[Iterable[Any]]) -> list[str]:
    body = [[_cell(v) for v in row] for row in rows]
    if not body:
        return ["_none_", ""]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    return [*lines, *("| " + " | ".join(row) + " |" for row in body), ""]


def _code(text: str | None) -> list[str]:
    """A fenced block (longer fence if the text holds one); "—" when there is no text."""
    if not text:
        return [MISSING, ""]
    fence = "````" if "```" in text else "```"
    return [fence + "text", text.rstrip("\n"), fence, ""]


def _short_hash(digest: str | None) -> str | None:
    return digest[:16] if digest else None


def _get(data: Any, *keys: str) -> Any:
    """data[k1][k2]..., None where a level is missing (a section that failed is null)."""
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


# --- sections ----------------------------------------------------------------------------------------


def _governor(value: Any) -> Any:
    if isinstance(value, dict):
        return ", ".join(f"cpu{cpu}: {gov or MISSING}" for cpu, gov in sorted(value.items()))
    return value


def _memory(kib: Any) -> str | None:
    return f"{kib} KiB ({kib / 1048576:.1f} GiB)" if isinstance(kib, int) else None


def _link(net: dict[str, Any] | None) -> str | None:
    if not net:
        return None
    if not net.get("bench_interface"):
        return f"{net.get('bench_address') or MISSING}: {net.get('note') or 'no interface'}"
    speed = net.get("speed_mbps")
    return (
        f"{net.get('bench_address')} on {net['bench_interface']}, "
        f"{f'{speed} Mb/s' if speed is not None else 'speed unknown'}, MTU {net.get('mtu') or MISSING}"
    )


def _system(host: dict[str, Any]) -> list[str]:
    sysinfo = host.get("system") or {}
    net = host.get("network") or {}
    limits = host.get("limits") or {}
    os_name = sysinfo.get("os_release")
    if sysinfo.get("debian_version"):
        os_name = f"{os_name or MISSING} (Debian {sysinfo['debian_version']})"
    rows: list[list[Any]] = [
        ["Hostname", sysinfo.get("hostname")],
        ["OS", os_name],
        ["Kernel", f"{sysinfo.get('kernel') or MISSING} ({sysinfo.get('arch') or MISSING})"],
        ["CPU", sysinfo.get("cpu_model")],
        [
            "Cores / cpuset",
            f"{sysinfo.get('cores', MISSING)} / {sysinfo.get('cpuset') or MISSING} "
            f"(online: {sysinfo.get('online_cpus') or MISSING})",
        ],
        ["Governor", _governor(sysinfo.get("governor"))],
        ["Memory", _memory(sysinfo.get("memory_kib"))],
        ["Bench link", _link(net)],
        ["qdisc", net.get("qdisc")],
    ]
    rows += [[f"sysctl {name}", value] for name, value in sorted((host.get("sysctls") or {}).items())]
    nofile = (
        f"soft {_cell(limits.get('app_user_nofile_soft'))}, hard {_cell(limits.get('app_user_nofile_hard'))}"
    )
    rows.append(["nofile (app user)", f"{nofile} ({limits['error']})" if limits.get("error") else nofile])
    return ["### System", "", *_table(["Item", "Value"], rows)]


def _packages(host: dict[str, Any]) -> list[str]:
    dpkg = host.get("dpkg") or {}
    rows = [
        [name, version or "not installed"] for name, version in sorted((host.get("packages") or {}).items())
    ]
    summary = (
        f"All installed packages (dpkg): {_cell(dpkg.get('count'))}, "
        f"sha256 of their `name version` list: `{_cell(dpkg.get('sha256'))}`"
    )
    if dpkg.get("error"):
        summary += f" ({dpkg['error']})"
    return ["### Packages", "", *_table(["Package", "Version"], rows), summary, ""]


def _tools(host: dict[str, Any]) -> list[str]:
    go = host.get("go") or {}
    tools = host.get("tools") or {}
    go_binary = f"{go['binary']} (sha256 {go.get('sha256') or MISSING})" if go.get("binary") else None
    rows = [
        ["go", go.get("version"), go_binary],
        ["siege", tools.get("siege_version"), None],
        ["wrk", tools.get("wrk_version"), None],
        ["k6", tools.get("k6_version"), None],
    ]
    return [
        "### Toolchain and load tools",
        "",
        *_table(["Tool", "Version", "Binary"], rows),
        "`nginx -V`:",
        "",
        *_code(tools.get("nginx_V")),
        "siege's effective configuration (`siege -C -R <lab siegerc>`):",
        "",
        *_code(tools.get("siege_config")),
    ]


def _python(host: dict[str, Any]) -> list[str]:
    py = host.get("python") or {}
    freeze = py.get("freeze")
    lines = ["### Python venv", "", f"`{py.get('venv') or MISSING}` — `pip freeze --all`:", ""]
    if py.get("error"):
        lines += [f"pip failed: {py['error']}", ""]
    return lines + _code("\n".join(freeze) if freeze else None)


def _hashes(host: dict[str, Any]) -> list[str]:
    binaries = sorted((host.get("binaries") or {}).items())
    bin_rows = [[path, _get(info, "sha256") or "missing", _get(info, "resolved")] for path, info in binaries]
    sums = sorted((host.get("go_sums") or {}).items())
    configs = sorted((host.get("configs") or {}).items())
    return [
        "### Binaries",
        "",
        *_table(["Path", "sha256", "Resolved"], bin_rows),
        "### go.sum files",
        "",
        *_table(["Path", "sha256"], [[path, digest or "missing"] for path, digest in sums]),
        "### Rendered configuration files",
        "",
        *_table(["Path", "sha256"], [[path, digest or "missing"] for path, digest in configs]),
    ]


def _jail_table(entries: list[dict[str, Any]]) -> list[str]:
    rows = [
        [
            e.get("path"),
            e.get("type"),
            f"{e.get('owner', MISSING)}:{e.get('group', MISSING)}",
            e.get("mode"),
            _short_hash(e.get("sha256")) or (f"→ {e['target']}" if e.get("target") else e.get("note")),
        ]
        for e in entries
    ]
    return _table(["Path", "Type", "Owner:group", "Mode", "sha256 / target"], rows)


def _jail(host: dict[str, Any]) -> list[str]:
    jail = host.get("jail")
    if jail is None:
        return ["### Jail", "", "No jail directory.", ""]
    return ["### Jail", "", *_jail_table(jail)]


def _users(host: dict[str, Any]) -> list[str]:
    users = host.get("users") or []
    rows = [[u.get("name"), u.get("uid"), u.get("gid"), u.get("home"), u.get("shell")] for u in users]
    groups = host.get("groups_of_app_user")
    return [
        "### Users",
        "",
        *_table(["Name", "UID", "GID", "Home", "Shell"], rows),
        f"Groups of the app user: {_cell(groups)}",
        "",
    ]


def _keys(host: dict[str, Any]) -> list[str]:
    keys = sorted((host.get("ssh_host_keys") or {}).items())
    return ["### SSH host keys", "", *_table(["File", "Fingerprint"], keys)]


def _runtime(state: dict[str, Any]) -> list[str]:
    """What runs and what `app build` made: shown, never compared as drift."""
    binaries = sorted((state.get("binaries") or {}).items())
    ports = state.get("ports") or []
    return [
        "### Runtime",
        "",
        "Not the setup: provisioning neither makes nor repairs these, and `audit --check` does not "
        "compare them.",
        "",
        "Binaries built by `app build`:",
        "",
        *_table(
            ["Path", "sha256", "Resolved"],
            [[path, _get(info, "sha256") or "missing", _get(info, "resolved")] for path, info in binaries],
        ),
        "In the jail, installed by `app build`:",
        "",
        *_jail_table(state.get("jail") or []),
        "Listening TCP ports:",
        "",
        *_table(
            ["Address", "Port", "Proto", "Process"],
            [[p.get("address"), p.get("port"), p.get("proto"), p.get("process")] for p in ports],
        ),
    ]


def _errors(host: dict[str, Any]) -> list[str]:
    errors = host.get("errors") or {}
    if not errors:
        return []
    return ["### Collector errors", "", *_table(["Section", "Error"], sorted(errors.items()))]


HOST_SECTIONS = (_system, _packages, _tools, _python, _hashes, _jail, _users, _keys, _errors)


# --- documents ---------------------------------------------------------------------------------------


def render_markdown(audit: dict[str, Any]) -> str:
    """audit.md: a title with when and from which inventory, then one section per host."""
    hosts = audit.get("hosts") or {}
    lines = [
        "# Lab audit",
        "",
        f"- Collected at: {_cell(audit.get('collected_at'))}",
        f"- Inventory: {_cell(audit.get('inventory'))}",
        f"- Lab commit: {_cell(audit.get('lab_commit'))}",
        f"- Hosts: {_cell(sorted(hosts))}",
        "",
    ]
    for name in sorted(hosts):
        host = hosts[name] or {}
        lines += [f"## {name}", ""]
        if host.get("collected_at"):
            lines += [
                f"Collected at {host['collected_at']} in {host.get('collector_seconds', MISSING)} s.",
                "",
            ]
        setup, state = runtime.split(host)
        for section in HOST_SECTIONS:
            lines += section(setup)
        lines += _runtime(state)
    return "\n".join(lines).rstrip("\n") + "\n"


def render_drift(drifts: list[Drift]) -> str:
    """Drift as a markdown table (readable as plain text too)."""
    if not drifts:
        return "No drift: the hosts match the baseline.\n"
    rows = [[d.host, d.source, d.what, d.expected, d.found] for d in drifts]
    return "\n".join(_table(["Host", "Source", "What", "Expected", "Found"], rows)).rstrip("\n") + "\n"


def render_runtime(audit: dict[str, Any]) -> str:
    """Each host's runtime state in one table, for `audit --check`: shown apart, never drift."""
    rows: list[list[Any]] = []
    for name, host in sorted((audit.get("hosts") or {}).items()):
        _, state = runtime.split(host or {})
        for path, info in sorted(state["binaries"].items()):
            rows.append([name, "built binary", path, _short_hash(_get(info, "sha256")) or "missing"])
        for entry in state["jail"]:
            rows.append([name, "built, in the jail", entry.get("path"), _short_hash(entry.get("sha256"))])
        for port in state["ports"]:
            where = f"{port.get('address')}:{port.get('port')}/{port.get('proto')}"
            rows.append([name, "listening", where, port.get("process")])
    title = "Runtime, not compared (what runs now, and what `app build` made):"
    return "\n".join([title, "", *_table(["Host", "Kind", "What", "Detail"], rows)]).rstrip("\n") + "\n"
