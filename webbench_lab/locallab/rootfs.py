"""The cached minimal Debian 12 tree every local host starts from (copy-on-write, via overlayfs)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from webbench_lab.commands import run
from webbench_lab.errors import UserError
from webbench_lab.paths import cache_dir

SUITE = "bookworm"
# sudo: a login user other than root (`lab up --login-user`) becomes root with it, as on real machines.
INCLUDE = ("openssh-server", "python3", "sudo")
APT_SOURCES = Path("/etc/apt")


def rootfs_dir() -> Path:
    return cache_dir() / "rootfs" / f"{SUITE}-minbase"


def _marker() -> Path:
    return rootfs_dir() / ".webbench-lab-complete"


def is_cached() -> bool:
    """A complete tree with today's INCLUDE list: a cache made before a package joined it is made
    again (once), or hosts would lack it."""
    marker = _marker()
    return marker.is_file() and f"include {','.join(INCLUDE)}" in marker.read_text().splitlines()


def control_mirror(apt_dir: Path = APT_SOURCES) -> str:
    """The Debian mirror the control machine's apt uses for bookworm (so hosts ask the same one)."""
    for uri, suites in _apt_entries(apt_dir):
        if SUITE in suites and uri.startswith("http://"):
            return uri.rstrip("/")
    raise UserError(
        f"{apt_dir}/sources.list(.d): no http:// Debian source for '{SUITE}'; the local lab needs "
        "the mirror the control machine's apt uses (add one, or run on Debian 12)"
    )


def _apt_entries(apt_dir: Path):
    files = [apt_dir / "sources.list", *sorted((apt_dir / "sources.list.d").glob("*"))]
    for path in files:
        if not path.is_file():
            continue
        text = path.read_text(errors="replace")
        if path.suffix == ".sources":
            for stanza in re.split(r"\n\s*\n", text):
                fields = dict(
                    (k.strip().lower(), v.strip())
                    for k, _, v in (ln.partition(":") for ln in stanza.splitlines())
                    if not k.lstrip().startswith("#") and v
                )
                if fields.get("enabled", "yes").lower() == "no":
                    continue
                if "deb" in fields.get("types", "").split():
                    for uri in fields.get("uris", "").split():
                        yield uri, fields.get("suites", "").split()
        elif path.suffix == ".list" or path.name == "sources.list":
            for line in text.splitlines():
                m = re.match(r"\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)", line)
                if m:
                    yield m.group(1), [m.group(2)]


def ensure_rootfs(mirror: str, say) -> Path:
    """Build the cache once with debootstrap; later calls return it at once."""
    final = rootfs_dir()
    if is_cached():
        return final
    tmp = final.with_name(final.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.rmtree(final, ignore_errors=True)
    tmp.parent.mkdir(parents=True, exist_ok=True)
    say(f"debootstrap {SUITE} (minbase + {', '.join(INCLUDE)}) from {mirror}: about a minute, once")
    run(
        [
            "debootstrap",
            "--variant=minbase",
            f"--include={','.join(INCLUDE)}",
            SUITE,
            str(tmp),
            mirror,
        ],
        timeout=1800,
    )
    # Host keys and machine-id must be unique per host: each host gets its own at `lab up`.
    for key in (tmp / "etc" / "ssh").glob("ssh_host_*"):
        key.unlink()
    (tmp / "etc" / "machine-id").write_text("")
    run(["chroot", str(tmp), "apt-get", "clean"])
    (tmp / _marker().name).write_text(f"{SUITE} {mirror}\ninclude {','.join(INCLUDE)}\n")
    tmp.rename(final)
    return final
