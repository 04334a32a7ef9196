"""auditor: a read-only inventory of what a lab host is made of (standard library only; runs with
the host's python3, as root).

    python3 auditor.py '<spec JSON>'      (or: collect(spec) -> dict)

The spec names what the lab put on the host (packages, sysctls, the venv, go, config files, built
binaries, the jail, the load tools); the answer is one JSON object (sorted keys) on stdout: system,
network, sysctls, limits, packages, toolchains, hashes, the jail's listing, users, listening ports
and SSH host key fingerprints.

Two rules make it safe to run on a lab at any time:

- it never writes on the host: every command runs with LC_ALL=C, a 10 s timeout, a minimal fixed
  environment and a HOME that cannot be created (below /proc). Without that, `siege -C` creates
  ~/.siege/cookies.txt and runs siege.config (which writes ~/.siege/siege.conf and deletes
  ~/.siegerc), and `go version` writes telemetry counters below ~/.config/go;
- it never raises for something missing: a missing tool, file or user is recorded as null (or a
  short "error"/"note" string), never skipped. A section that fails unexpectedly is recorded as
  null with its reason under "errors", so the other sections still arrive.
"""

from __future__ import annotations

import base64
import glob
import grp
import hashlib
import ipaddress
import json
import os
import pwd
import re
import shutil
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple, TypedDict, cast


class AuditSpec(TypedDict):
    """What the control machine asks the collector to look at on one host (its contract: the
    control side builds it in audit/collect.py's host_spec). None where the host has no such thing."""

    app_user: str
    run_as: list[str]
    bench_address: str | None
    packages: list[str]
    sysctls: list[str]
    venv: str | None
    go: str | None
    config_files: list[str]
    config_dirs: list[str]
    config_globs: list[str]
    binary_globs: list[str]
    go_sum_globs: list[str]
    jail: str | None
    tools: dict[str, bool]
    siege_rc: str | None


TIMEOUT = 10
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Nothing can be created below /proc, not even by root: tools that write below $HOME fail to.
NO_HOME = "/proc/webbench-auditor-no-home"
# The same environment on every host, whatever the caller's: results depend on the host only.
ENV = {
    "PATH": PATH,
    "LC_ALL": "C",
    "HOME": NO_HOME,
    "GOTOOLCHAIN": "local",  # report this go; never switch to (or download) another toolchain
    "PYTHONDONTWRITEBYTECODE": "1",
    "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    "PIP_NO_CACHE_DIR": "1",
    "PIP_NO_INPUT": "1",
}
DPKG_FORMAT = "${Package}\t${db:Status-Abbrev}\t${Version}\n"
GOVERNOR_UNAVAILABLE = "unavailable: no cpufreq in /sys"
LISTEN = "0A"


# --- helpers ---------------------------------------------------------------------------------------


class Result(NamedTuple):
    """A command's outcome; rc is None when it could not run (err says why)."""

    rc: int | None
    out: str
    err: str

    @property
    def text(self) -> str:
        return (self.err + self.out).strip()


def run(argv: list[str], timeout: float = TIMEOUT) -> Result:
    """Run a command read-only, in the fixed environment; never raises."""
    exe = argv[0] if "/" in argv[0] else shutil.which(argv[0], path=PATH)
    if exe is None or not os.path.exists(exe):
        return Result(None, "", f"{argv[0]}: not installed")
    try:
        proc = subprocess.run(
            [exe, *argv[1:]],
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout,
            env=ENV,
            cwd="/",
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return Result(None, "", f"{argv[0]}: timed out after {timeout:g} s")
    except OSError as exc:
        return Result(None, "", f"{argv[0]}: {exc.strerror or exc}")
    return Result(proc.returncode, proc.stdout, proc.stderr)


def first_line(text: str) -> str | None:
    return next((line.strip() for line in text.splitlines() if line.strip()), None)


def read_text(path: str) -> str | None:
    try:
        return Path(path).read_text(errors="replace")
    except (OSError, ValueError):
        return None


def read_int(path: str) -> int | None:
    """An integer /sys attribute; None if missing or unreadable (a link's speed can raise EINVAL)."""
    text = read_text(path)
    try:
        return int(text.strip()) if text is not None else None
    except ValueError:
        return None


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str) -> str | None:
    """sha256 of a regular file (symlinks followed); None if missing, unreadable or not a file.

    Only regular files are opened: a FIFO or a device could block or change state when read.
    """
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return None
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return None
    return digest.hexdigest()


def key_values(text: str | None, sep: str = ":") -> dict[str, str]:
    """'key<sep>value' lines (first occurrence wins), as in /proc/cpuinfo or /proc/meminfo."""
    found: dict[str, str] = {}
    for line in (text or "").splitlines():
        key, hit, value = line.partition(sep)
        if hit:
            found.setdefault(key.strip(), value.strip())
    return found


def user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def group_name(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def expand(patterns: Iterable[str]) -> list[tuple[str | None, list[str]]]:
    """(pattern, its sorted matches) for each pattern. An explicit path that is missing comes back
    as itself (recorded as null, so a lost file shows); a wildcard that matches nothing comes back
    as None (nothing to record: no build yet is not a missing file)."""
    return [(None if glob.has_magic(p) else p, sorted(glob.glob(p))) for p in patterns]


# --- system ------------------------------------------------------------------------------------------


def os_release() -> str | None:
    """PRETTY_NAME, unquoted (os-release values are shell-quoted)."""
    for path in ("/etc/os-release", "/usr/lib/os-release"):
        value = key_values(read_text(path), "=").get("PRETTY_NAME")
        if value is not None:
            return value.strip("\"'")
    return None


def governors(cpus: list[int]) -> str | dict[str, str | None]:
    """One governor when all allowed cpus agree (the usual case), else each cpu's."""
    found = {
        str(cpu): (read_text(f"/sys/devices/system/cpu/cpu{cpu}/cpufreq/scaling_governor") or "").strip()
        or None
        for cpu in cpus
    }
    seen = {governor for governor in found.values() if governor is not None}
    if not seen:
        return GOVERNOR_UNAVAILABLE
    if len(seen) == 1 and None not in found.values():
        return seen.pop()
    return found


def cpu_limit(proc: str = "/proc/self") -> dict[str, Any] | None:
    """This process's CPU bandwidth limit (CFS quota) from its cgroup, cgroup v1 (cpu.cfs_quota_us
    and cpu.cfs_period_us) or v2 (cpu.max), the tightest of its group and the groups above it that
    are visible; None when there is none. The cgroup mounts are found in mountinfo, whose root
    field maps the process's cgroup path to a directory (a local lab host sees its own group
    mounted at /sys/fs/cgroup/cpu)."""
    groups = {}
    for line in (read_text(f"{proc}/cgroup") or "").splitlines():
        _hid, controllers, own = line.split(":", 2)
        groups["v2" if not controllers else "v1" if "cpu" in controllers.split(",") else ""] = own
    best: dict[str, Any] | None = None
    for line in (read_text(f"{proc}/mountinfo") or "").splitlines():
        fields = line.split()
        if " - " not in line or len(fields) < 5:
            continue
        fstype, _source, options = line.split(" - ", 1)[1].split()[:3]
        v1 = fstype == "cgroup" and "cpu" in options.split(",")
        version = "v2" if fstype == "cgroup2" else "v1" if v1 else ""
        path: str | None = groups.get(version) if version else None
        root, mountpoint = fields[3], fields[4]
        if path is None or not (path + "/").startswith(root.rstrip("/") + "/"):
            continue
        directory = Path(mountpoint, path[len(root.rstrip("/")) :].lstrip("/"))
        while True:
            found = _cfs_quota(directory, version)
            if found and (best is None or found["cores"] < best["cores"]):
                best = {**found, "cgroup": f"{version}:{path}", "directory": str(directory)}
            if directory == Path(mountpoint) or directory == directory.parent:
                break
            directory = directory.parent
    return best


def _cfs_quota(directory: Path, version: str) -> dict[str, Any] | None:
    """{"cores", "quota_us", "period_us"} of one cgroup directory, None without a quota."""
    if version == "v1":
        quota, period = read_int(f"{directory}/cpu.cfs_quota_us"), read_int(f"{directory}/cpu.cfs_period_us")
    else:
        parts = (read_text(f"{directory}/cpu.max") or "max").split()
        quota = int(parts[0]) if parts[0].isdigit() else None
        period = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
    if quota is None or quota < 0 or not period:
        return None
    return {"cores": round(quota / period, 3), "quota_us": quota, "period_us": period}


def system_info() -> dict[str, Any]:
    uname = os.uname()
    cpus = sorted(os.sched_getaffinity(0))
    status = key_values(read_text("/proc/self/status"))
    meminfo = key_values(read_text("/proc/meminfo"))
    mem = meminfo.get("MemTotal", "").split()
    return {
        "os_release": os_release(),
        "debian_version": (read_text("/etc/debian_version") or "").strip() or None,
        "kernel": uname.release,
        "arch": uname.machine,
        "cpu_model": key_values(read_text("/proc/cpuinfo")).get("model name"),
        "cores": len(cpus),
        "cpuset": status.get("Cpus_allowed_list"),
        "online_cpus": (read_text("/sys/devices/system/cpu/online") or "").strip() or None,
        "governor": governors(cpus),
        "cpu_limit": cpu_limit(),
        "memory_kib": int(mem[0]) if mem and mem[0].isdigit() else None,
        "hostname": socket.gethostname(),
    }


# --- network -----------------------------------------------------------------------------------------


def same_address(a: str, b: str) -> bool:
    try:
        return ipaddress.ip_address(a) == ipaddress.ip_address(b)
    except ValueError:
        return a == b


def interface_of(address: str) -> tuple[str | None, str | None]:
    """(interface holding `address`, note): `ip -j addr`, or `ip -o addr` on an iproute2 without JSON."""
    res = run(["ip", "-j", "addr"])
    try:
        links = json.loads(res.out) if res.rc == 0 else None
    except ValueError:
        links = None
    if isinstance(links, list):
        for link in links:
            for info in link.get("addr_info", []):
                if same_address(str(info.get("local", "")), address):
                    return link.get("ifname"), None
        return None, f"no interface holds {address}"
    res = run(["ip", "-o", "addr"])
    if res.rc != 0:
        return None, f"cannot list addresses: {first_line(res.text) or res.rc}"
    for line in res.out.splitlines():
        fields = line.split()
        inet = len(fields) > 3 and fields[2] in ("inet", "inet6")
        if inet and same_address(fields[3].split("/")[0], address):
            return fields[1].split("@")[0], None
    return None, f"no interface holds {address}"


def qdisc_line(line: str) -> str:
    """`tc qdisc show` without the handle the kernel numbered it with (8039: on one boot of the
    link, 803b: on the next): the kind and its settings are what the lab set."""
    return re.sub(r"^(qdisc \S+) [0-9a-f]+: ", r"\1 ", line.rstrip())


def network_info(address: str | None) -> dict[str, Any]:
    info: dict[str, Any] = {"bench_address": address, "bench_interface": None}
    info.update(speed_mbps=None, mtu=None, qdisc=None)
    if not address:
        info["note"] = "no bench_address in the spec"
        return info
    name, note = interface_of(address)
    if name is None:
        info["note"] = note
        return info
    tc = run(["tc", "qdisc", "show", "dev", name])
    info.update(
        bench_interface=name,
        speed_mbps=read_int(f"/sys/class/net/{name}/speed"),
        mtu=read_int(f"/sys/class/net/{name}/mtu"),
        qdisc=[qdisc_line(line) for line in tc.out.splitlines() if line.strip()] if tc.rc == 0 else None,
    )
    return info


def sysctls(names: list[str]) -> dict[str, str | None]:
    """Values as `sysctl -n` shows them, whitespace collapsed (ip_local_port_range has a tab)."""
    found: dict[str, str | None] = {}
    for name in names:
        text = read_text("/proc/sys/" + name.replace(".", "/"))
        found[name] = " ".join(text.split()) if text is not None else None
    return found


# --- the app user ------------------------------------------------------------------------------------


def _limit(text: str) -> int | str | None:
    text = text.strip()
    return int(text) if text.isdigit() else (text or None)


def nofile_limits(user: str, run_as: list[str]) -> dict[str, Any]:
    """The open-file limits a process started like the apps (run_as) gets."""
    limits: dict[str, Any] = {"app_user_nofile_soft": None, "app_user_nofile_hard": None}
    try:
        pwd.getpwnam(user)
    except KeyError:
        limits["error"] = f"no user {user!r}"
        return limits
    res = run([*run_as, "sh", "-c", "ulimit -Sn; ulimit -Hn"])
    lines = res.out.split()
    if res.rc != 0 or len(lines) != 2:
        limits["error"] = first_line(res.text) or f"exit status {res.rc}"
        return limits
    limits.update(app_user_nofile_soft=_limit(lines[0]), app_user_nofile_hard=_limit(lines[1]))
    return limits


def passwd_users() -> list[dict[str, Any]]:
    """Every /etc/passwd entry (the file itself: NSS sources such as LDAP are not the lab's)."""
    users = []
    for line in (read_text("/etc/passwd") or "").splitlines():
        fields = line.split(":")
        if len(fields) != 7 or not fields[2].isdigit() or not fields[3].isdigit():
            continue
        name, _, uid, gid, _, home, shell = fields
        users.append({"name": name, "uid": int(uid), "gid": int(gid), "home": home, "shell": shell})
    return sorted(users, key=lambda u: u["name"])


def user_groups(user: str) -> list[str] | None:
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        return None
    return sorted({group_name(gid) for gid in os.getgrouplist(user, entry.pw_gid)})


# --- packages and toolchains -------------------------------------------------------------------------


def dpkg_installed() -> tuple[list[tuple[str, str]] | None, str | None]:
    """(name, version) of every installed package ("ii" only: not removed, not half-installed)."""
    res = run(["dpkg-query", "-W", "-f", DPKG_FORMAT])
    if res.rc is None:
        return None, res.err
    installed = []
    for line in res.out.splitlines():
        fields = line.split("\t")
        if len(fields) == 3 and fields[1].strip() == "ii":
            installed.append((fields[0], fields[2]))
    return installed, None


def package_versions(names: list[str], installed: list[tuple[str, str]] | None) -> dict[str, str | None]:
    versions: dict[str, str] = {}
    for name, version in installed or []:
        versions.setdefault(name, version)
    return {name: versions.get(name) for name in names}


def dpkg_summary(installed: list[tuple[str, str]] | None, error: str | None) -> dict[str, Any]:
    """Count and sha256 of the sorted "name version" lines (one per line, "\\n"-terminated): any
    package added, removed or upgraded changes the hash."""
    if installed is None:
        return {"count": None, "sha256": None, "error": error}
    lines = sorted(f"{name} {version}" for name, version in installed)
    return {"count": len(lines), "sha256": sha256_bytes("".join(f"{line}\n" for line in lines).encode())}


def go_toolchain(path: str | None) -> dict[str, Any]:
    if not path or not os.path.exists(path):
        return {"version": None, "binary": None, "sha256": None}
    binary = os.path.realpath(path)
    res = run([path, "version"])
    return {
        "version": first_line(res.out) if res.rc == 0 else None,
        "binary": binary,
        "sha256": sha256_file(binary),
    }


def python_venv(venv: str | None) -> dict[str, Any]:
    """pip freeze --all of the apps' venv (-B: no .pyc is written while pip is imported)."""
    info: dict[str, Any] = {"venv": venv, "freeze": None}
    python = f"{venv}/bin/python"
    if not venv or not os.path.exists(python):
        return info
    res = run([python, "-B", "-m", "pip", "freeze", "--all"])
    if res.rc == 0:
        info["freeze"] = sorted(line.strip() for line in res.out.splitlines() if line.strip())
    else:
        info["error"] = first_line(res.err) or f"exit status {res.rc}"
    return info


def tool_versions(tools: dict[str, bool], siege_rc: str | None) -> dict[str, str | None]:
    """Versions of the requested tools; null for a tool not requested or not installed."""
    found: dict[str, str | None] = dict.fromkeys(
        ("nginx_V", "siege_version", "siege_config", "wrk_version", "k6_version")
    )
    if tools.get("nginx"):
        res = run(["nginx", "-V"])
        found["nginx_V"] = (res.text or None) if res.rc is not None else None
    if tools.get("siege"):
        found.update(siege_info(siege_rc))
    if tools.get("wrk"):
        res = run(["wrk", "-v"])  # prints its version with the usage and exits 1
        found["wrk_version"] = first_line(res.out + res.err) if res.rc is not None else None
    if tools.get("k6"):
        res = run(["k6", "version"])
        found["k6_version"] = first_line(res.out) if res.rc == 0 else None
    return found


def siege_info(rc_file: str | None) -> dict[str, str | None]:
    """siege's version and the configuration it runs with (-C), both read with the lab's rc file.

    Its stdout is kept as it is, with the "New configuration template added to <HOME>/.siege"
    lines siege prints for a HOME without .siege (here always NO_HOME, so they never vary).
    """
    rc = ["-R", rc_file] if rc_file else []
    version = run(["siege", *rc, "-V"])  # to stderr, after siege.config's complaints
    if version.rc is None:
        return {"siege_version": None, "siege_config": None}
    lines = version.text.splitlines()
    banner = next((line.strip() for line in lines if line.startswith("SIEGE ")), None)
    config = run(["siege", "-C", *rc])
    return {
        "siege_version": banner or first_line(version.text),
        "siege_config": (config.out.strip() or config.err.strip() or None),
    }


# --- files -------------------------------------------------------------------------------------------


def binaries(patterns: list[str]) -> dict[str, dict[str, str | None]]:
    """Executable regular files (symlinks followed) matched by each pattern; an explicit path that
    is missing is recorded under its own name with nulls, so a lost binary shows."""
    found: dict[str, dict[str, str | None]] = {}
    for pattern, matches in expand(patterns):
        hits = 0
        for path in matches:
            try:
                mode = os.stat(path).st_mode
            except OSError:
                continue
            if stat.S_ISREG(mode) and mode & 0o111:
                found[path] = {"sha256": sha256_file(path), "resolved": os.path.realpath(path)}
                hits += 1
        if not hits and pattern:
            found[pattern] = {"sha256": None, "resolved": None}
    return found


def hashed_matches(patterns: list[str]) -> dict[str, str | None]:
    """sha256 of every file a pattern matches; a pattern without a match is recorded as null."""
    found: dict[str, str | None] = {}
    for pattern, matches in expand(patterns):
        files = [path for path in matches if os.path.isfile(path)]
        for path in files:
            found[path] = sha256_file(path)
        if not files and pattern:
            found[pattern] = None
    return found


def config_hashes(files: list[str], dirs: list[str], patterns: list[str]) -> dict[str, str | None]:
    """sha256 of explicit files (null when missing), of every file below the dirs (a missing dir
    is null), and of the glob matches."""
    found: dict[str, str | None] = {path: sha256_file(path) for path in files}
    for top in dirs:
        if not os.path.isdir(top):
            found[top] = None
            continue
        for dirpath, _dirnames, filenames in os.walk(top):
            for name in filenames:
                path = os.path.join(dirpath, name)
                if os.path.isfile(path):
                    found[path] = sha256_file(path)
    found.update(hashed_matches(patterns))
    return found


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "symlink"
    if stat.S_ISDIR(mode):
        return "dir"
    return "file" if stat.S_ISREG(mode) else "other"


def jail_entry(path: str, rel: str) -> dict[str, Any]:
    try:
        st = os.lstat(path)
    except OSError as exc:
        return {"path": rel, "type": None, "error": exc.strerror}
    entry: dict[str, Any] = {
        "path": rel,
        "type": _kind(st.st_mode),
        "owner": user_name(st.st_uid),
        "group": group_name(st.st_gid),
        "mode": f"{stat.S_IMODE(st.st_mode):04o}",
    }
    if entry["type"] == "file":
        entry["sha256"] = sha256_file(path)
    elif entry["type"] == "symlink":
        try:
            entry["target"] = os.readlink(path)
        except OSError:
            entry["target"] = None
    return entry


def _device(path: str) -> int | None:
    try:
        return os.lstat(path).st_dev
    except OSError:
        return None


def jail_listing(root: str | None) -> list[dict[str, Any]] | None:
    """Every entry below the jail, hidden ones too, without following symlinks. A file system
    mounted inside (a /proc, a bind mount) is listed but not descended into: reading /proc/kmsg
    would block, and what is mounted there is not the jail's own content."""
    if not root or not os.path.isdir(root):
        return None
    root_dev = os.stat(root).st_dev
    entries = [jail_entry(root, ".")]
    for dirpath, dirnames, filenames in os.walk(root):
        mounted = set()
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            entry = jail_entry(path, os.path.relpath(path, root))
            if name in dirnames and _device(path) != root_dev:
                entry["note"] = "mount point: not descended"
                mounted.add(name)
            entries.append(entry)
        dirnames[:] = [name for name in dirnames if name not in mounted]
    return sorted(entries, key=lambda e: (e["path"] != ".", e["path"]))


# --- sockets and keys --------------------------------------------------------------------------------


def decode_address(hex_address: str) -> str:
    """/proc/net/tcp{,6} print the address as 32-bit words in host byte order."""
    raw = bytes.fromhex(hex_address)
    if sys.byteorder == "little":
        raw = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    return socket.inet_ntop(socket.AF_INET if len(raw) == 4 else socket.AF_INET6, raw)


def listening_sockets() -> dict[int, tuple[str, int, str]]:
    """Socket inode -> (address, port, proto) of every listening TCP socket."""
    found = {}
    for proto in ("tcp", "tcp6"):
        for line in (read_text(f"/proc/net/{proto}") or "").splitlines()[1:]:
            fields = line.split()
            if len(fields) < 10 or fields[3] != LISTEN:
                continue
            address, _, port = fields[1].partition(":")
            found[int(fields[9])] = (decode_address(address), int(port, 16), proto)
    return found


def socket_owners(inodes: set[int]) -> dict[int, str]:
    """Socket inode -> comm of the lowest pid holding it (the parent of a pre-forked server)."""
    owners: dict[int, str] = {}
    pids = sorted(int(name) for name in os.listdir("/proc") if name.isdigit())
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if link.startswith("socket:[") and int(link[8:-1]) in inodes:
                comm = (read_text(f"/proc/{pid}/comm") or "").strip() or None
                if comm is not None:
                    owners.setdefault(int(link[8:-1]), comm)
    return owners


def listening_ports() -> list[dict[str, Any]]:
    sockets = listening_sockets()
    owners = socket_owners(set(sockets))
    unique = {(*where, owners.get(inode)) for inode, where in sockets.items()}
    rows = sorted(unique, key=lambda r: (r[1], r[2], r[0], r[3] or ""))
    return [{"address": a, "port": p, "proto": proto, "process": comm} for a, p, proto, comm in rows]


def fingerprint(public_key: str) -> str | None:
    """What `ssh-keygen -lf` prints: SHA256 of the decoded key blob, base64 without padding."""
    fields = public_key.split()
    try:
        blob = base64.b64decode(fields[1], validate=True)
    except (IndexError, ValueError):
        return None
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def ssh_host_keys() -> dict[str, str | None]:
    return {
        path: fingerprint(read_text(path) or "") for path in sorted(glob.glob("/etc/ssh/ssh_host_*_key.pub"))
    }


# --- the whole audit ---------------------------------------------------------------------------------


def collect(spec: AuditSpec) -> dict[str, Any]:
    """Everything about this host the lab depends on, as one JSON-serialisable dict."""
    started = time.monotonic()
    errors: dict[str, str] = {}

    def guard(name: str, fn: Callable[..., Any], *args: Any) -> Any:
        """A section that breaks is recorded (null + its reason), it does not stop the others."""
        try:
            return fn(*args)
        except Exception as exc:
            errors[name] = f"{type(exc).__name__}: {exc}"
            return None

    # The control machine's host_spec gives every key (None where a host has no such thing).
    user, run_as = spec["app_user"], spec["run_as"]
    installed, dpkg_error = guard("dpkg", dpkg_installed) or (None, "dpkg_installed failed")
    audit = {
        "system": guard("system", system_info),
        "network": guard("network", network_info, spec["bench_address"]),
        "sysctls": guard("sysctls", sysctls, spec["sysctls"]),
        "limits": guard("limits", nofile_limits, user, run_as),
        "packages": guard("packages", package_versions, spec["packages"], installed),
        "dpkg": guard("dpkg", dpkg_summary, installed, dpkg_error),
        "go": guard("go", go_toolchain, spec["go"]),
        "python": guard("python", python_venv, spec["venv"]),
        "binaries": guard("binaries", binaries, spec["binary_globs"]),
        "go_sums": guard("go_sums", hashed_matches, spec["go_sum_globs"]),
        "tools": guard("tools", tool_versions, spec["tools"], spec["siege_rc"]),
        "configs": guard(
            "configs",
            config_hashes,
            spec["config_files"],
            spec["config_dirs"],
            spec["config_globs"],
        ),
        "jail": guard("jail", jail_listing, spec["jail"]),
        "users": guard("users", passwd_users),
        "groups_of_app_user": guard("groups_of_app_user", user_groups, user),
        "ports": guard("ports", listening_ports),
        "ssh_host_keys": guard("ssh_host_keys", ssh_host_keys),
    }
    audit["errors"] = errors
    audit["collected_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    audit["collector_seconds"] = round(time.monotonic() - started, 3)
    return audit


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    try:
        spec = json.loads(args[0])
        if not isinstance(spec, dict):
            raise ValueError("the spec is not a JSON object")
    except (IndexError, ValueError) as exc:
        print(json.dumps({"error": f"usage: auditor.py '<spec JSON>' ({exc})"}, sort_keys=True))
        return 2
    print(json.dumps(collect(cast(AuditSpec, spec)), sort_keys=True))  # JSON from host_spec
    return 0


if __name__ == "__main__":
    sys.exit(main())
