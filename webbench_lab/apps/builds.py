"""Build a Go program of apps/ on its host, once per apps release, and remember the outcome.

A system that today's toolchain cannot build keeps its row: the result says `not buildable` with
the compiler's (or the go command's) own first lines.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass

from webbench_lab.agent.appctl import MARKER, run_marker
from webbench_lab.hosts.control import HostControl


@dataclass(frozen=True)
class BuildResult:
    name: str
    ok: bool
    reason: str = ""
    binary: str = ""


def current_release(hc: HostControl) -> str:
    """The digest of the apps release the host's apps/current points at."""
    target = hc.sh(f"readlink -f {hc.vars['apps_root']}/current").stdout.strip()
    return target.rsplit("/", 1)[-1]


def build_go(hc: HostControl, name: str, jail: bool = False, force: bool = False) -> BuildResult:
    """`go build` apps/<name> (static, CGO_ENABLED=0); with `jail`, install it alone in its jail."""
    v = hc.vars
    out_dir = f"{v['apps_build_root']}/{name}"
    release = current_release(hc)
    result_file = f"{out_dir}/result.json"
    if not force:
        previous = hc.sh(f"cat {result_file} 2>/dev/null || true").stdout.strip()
        if previous:
            data = json.loads(previous)
            if data.get("release") == release and (not jail or not data["ok"] or _jailed(hc, name)):
                return BuildResult(name, data["ok"], data.get("reason", ""), data.get("binary", ""))
    src = f"{v['apps_root']}/current/{name}"
    cache = v["apps_cache_root"]
    build = hc.sh(
        f"mkdir -p {out_dir} && "
        + build_command(src, f"{out_dir}/{name}.new", cache, run_marks(name, hc.run_id)),
        check=False,
        timeout=900,
    )
    if build.exited == 0:
        hc.sh(f"mv {out_dir}/{name}.new {out_dir}/{name}")
        binary = f"{out_dir}/{name}"
        if jail:
            install_in_jail(hc, name, binary)
        result = BuildResult(name, True, "", binary)
    else:
        result = BuildResult(name, False, _reason(build.stdout, src, cache))
    hc.sh(f"cat > {result_file}", stdin=result_record(release, result))
    return result


def result_record(release: str, result: BuildResult) -> str:
    """The bytes of build/<name>/result.json (provisioning writes the same for the upstream API)."""
    record = {"release": release, "ok": result.ok, "reason": result.reason, "binary": result.binary}
    return json.dumps(record) + "\n"


def build_command(src: str, out: str, cache: str, marks: str = "") -> str:
    """A static, reproducible `go build` with the host's module proxy directory and caches; `marks`
    (run_marks) make it one of a run's processes."""
    env = (
        f"HOME={cache} GOCACHE={cache}/go-build GOMODCACHE={cache}/gomod "
        "CGO_ENABLED=0 GOFLAGS=-mod=readonly GOTOOLCHAIN=local"
    )
    return f"cd {src} && env {marks}{env} go build -trimpath -o {out} . 2>&1"


def run_marks(name: str, run_id: str, marker: str = MARKER) -> str:
    """The agent's markers (system `build-<name>`, the run's id) as `env` assignments, so that a
    build started for a run is one of its processes, which the run's guard on the host ends with
    the run. A driver killed during `go build` left the build (and its compilers) running on the
    server for minutes after. Empty outside a run (`app build` by hand)."""
    if not run_id:
        return ""
    return f"{marker}={shlex.quote('build-' + name)} {run_marker(marker)}={shlex.quote(run_id)} "


def jail_entries(jailed: list[str]) -> list[str]:
    """What `app build` installs in the jail, relative to it: each jailed system's folder and
    binary. The one rule: provisioning keeps these and removes anything else, and the audit counts
    them as runtime state, not as the jail's setup."""
    return sorted(p for name in jailed for p in (name, f"{name}/{name}"))


def install_in_jail(hc: HostControl, name: str, binary: str) -> None:
    """The jail holds the static binary and nothing else: root-owned, no shell, nothing writable."""
    jail = f"{hc.vars['chroot_jail_dir']}/{name}"
    hc.sh(
        f"rm -rf {jail}.new && install -d -o root -g root -m 0755 {jail}.new && "
        f"install -o root -g root -m 0555 {binary} {jail}.new/{name} && "
        f"rm -rf {jail} && mv {jail}.new {jail}"
    )


def _jailed(hc: HostControl, name: str) -> bool:
    jail = f"{hc.vars['chroot_jail_dir']}/{name}/{name}"
    return hc.sh(f"test -x {shlex.quote(jail)}", check=False).exited == 0


def _reason(output: str, src: str, cache: str) -> str:
    """The compiler's first lines, with the host's paths shortened."""
    lines = [
        ln.strip()
        for ln in output.strip().splitlines()
        if ln.strip() and not ln.startswith(("#", "go: downloading"))
    ]
    text = "; ".join(lines[:2]) or "go build failed without output"
    text = re.sub(r"\(/[^)]*/go/[0-9.]+/src/([^)]*)\)", r"(GOROOT/src/\1)", text)
    return text.replace(f"{cache}/gomod/", "").replace(src + "/", "").replace(src, ".")
