"""What the control machine fetches for the hosts, which reach no package index themselves.

The Python wheelhouse (pip download of apps/python-stack.lock) and the pinned Go toolchain (the
golang.org/toolchain module, via `go mod download`) are cached under .lab/cache and shipped to the
hosts over SSH, so the same provisioning works for the local lab and for remote machines.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from webbench_lab.commands import run
from webbench_lab.defaults import shared_defaults
from webbench_lab.errors import LabFailure, UserError
from webbench_lab.paths import PYTHON_LOCK, REPO, cache_dir, go_build_cache
from webbench_lab.ui import step

APPS_DIR = REPO / "apps"

# The hosts run Debian 12: CPython 3.11 on glibc 2.36, x86_64.
WHEEL_PLATFORMS = (
    "manylinux_2_36_x86_64",
    "manylinux_2_34_x86_64",
    "manylinux_2_28_x86_64",
    "manylinux_2_17_x86_64",
    "manylinux2014_x86_64",
    "manylinux_2_5_x86_64",
    "manylinux1_x86_64",
    "linux_x86_64",
)


def server_wheel_args() -> list[str]:
    """pip options that pick wheels for the server's Python (not the control machine's), from the
    registry pip itself names (--isolated: not the control machine's extra local indexes)."""
    args = [
        "--isolated",
        "--only-binary=:all:",
        "--python-version",
        "3.11",
        "--implementation",
        "cp",
        "--abi",
        "cp311",
    ]
    for platform in WHEEL_PLATFORMS:
        args += ["--platform", platform]
    cert = Path("/etc/ssl/certs/ca-certificates.crt")
    if cert.is_file():
        args += ["--cert", str(cert)]
    return args


@dataclass(frozen=True)
class Bundle:
    """A directory shipped to the hosts as one tarball, unpacked into a folder named by digest
    (the wheelhouse, named by the lock's digest; the apps' sources; their Go modules)."""

    tarball: Path
    digest: str


def lock_digest() -> str:
    return hashlib.sha256(PYTHON_LOCK.read_bytes()).hexdigest()[:16]


def wheelhouse(say) -> Bundle:
    """Every wheel of the lock for CPython 3.11 x86_64, packed into one deterministic tarball."""
    digest = lock_digest()
    root = cache_dir() / "wheelhouse"
    tarball = root / f"wheelhouse-{digest}.tar"
    if tarball.is_file():
        return Bundle(tarball, digest)
    staging = root / f".download-{digest}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    say(f"pip download {PYTHON_LOCK.name} (CPython 3.11 wheels) into the wheelhouse cache")
    args = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(staging)]
    run([*args, *server_wheel_args(), "-r", str(PYTHON_LOCK)], timeout=1800)
    _pack(staging, tarball)
    shutil.rmtree(staging)
    return Bundle(tarball, digest)


def _pack(src: Path, tarball: Path, skip: tuple[str, ...] = ()) -> None:
    """Same files, same bytes: sorted names, fixed owners and times (hash-stable uploads)."""
    tmp = tarball.with_suffix(".partial")
    with tarfile.open(tmp, "w") as tar:
        for path in sorted(_files(src)):
            rel = path.relative_to(src).as_posix()
            if rel.startswith(skip):
                continue
            info = tarfile.TarInfo(rel)
            info.size = path.stat().st_size
            info.mode = 0o644
            info.mtime = 0
            with path.open("rb") as fh:
                tar.addfile(info, fh)
    tmp.rename(tarball)


def _files(root: Path):
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in ("__pycache__", ".pytest_cache")]
        for name in filenames:
            if not name.endswith(".pyc"):
                yield Path(dirpath) / name


def tree_digest(root: Path, skip: tuple[str, ...] = ()) -> str:
    """sha256 over the relative names and contents of every file under `root`."""
    digest = hashlib.sha256()
    for path in sorted(_files(root)):
        rel = path.relative_to(root).as_posix()
        if rel.startswith(skip):
            continue
        digest.update(rel.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def apps_bundle() -> Bundle:
    """The apps/ folder (sources of every system, the shared workload, the upstream API)."""
    digest = tree_digest(APPS_DIR)
    tarball = cache_dir() / "bundles" / f"apps-{digest}.tar"
    if not tarball.is_file():
        tarball.parent.mkdir(parents=True, exist_ok=True)
        _pack(APPS_DIR, tarball)
    return Bundle(tarball, digest)


def go_modules(go: Path, say) -> Bundle:
    """A GOPROXY directory with every module the Go apps need, checked against their go.sum.

    `go mod download` runs in each Go module of apps/ with the pinned toolchain; a module the
    proxy refuses (Twister) is left out, and the build of that system reports why.
    """
    gomod = cache_dir() / "gomod-apps"
    modules = sorted(p.parent for p in APPS_DIR.glob("*/go.mod"))
    sums = hashlib.sha256(b"".join(p.read_bytes() for m in modules for p in sorted(m.glob("go.*"))))
    digest = sums.hexdigest()[:16]
    tarball = cache_dir() / "bundles" / f"goproxy-{digest}.tar"
    if tarball.is_file():
        return Bundle(tarball, digest)
    say("go mod download for the Go apps into the lab's module proxy directory")
    for module in modules:
        _run_go(go, ["mod", "download"], module, gomod, "-modcacherw -mod=mod")
    tarball.parent.mkdir(parents=True, exist_ok=True)
    _pack(gomod / "cache" / "download", tarball, skip=("golang.org/toolchain",))
    return Bundle(tarball, digest)


def _run_go(go: Path, args: list[str], cwd: Path, gomodcache: Path, goflags: str, **env: str):
    """A go command on the control machine, with the lab's module cache, no workspace and no
    toolchain switching; a run that hangs becomes one line."""
    full_env = {**os.environ, "GOMODCACHE": str(gomodcache), "GOFLAGS": goflags,
                "GOTOOLCHAIN": "local", "GOWORK": "off", **env}  # fmt: skip
    try:
        return subprocess.run([str(go), *args], cwd=cwd, env=full_env, capture_output=True, text=True,
                              timeout=3600, check=False)  # fmt: skip
    except subprocess.TimeoutExpired:
        raise LabFailure(f"`go {' '.join(args)}` did not finish within an hour") from None


def k6_binary(go: Path, go_version: str, say) -> Path:
    """k6, built on the control machine from its pinned Go module (apps/k6: go.k6.io/k6 v1.8.1)
    with the pinned toolchain (`go`, of `go_version`), static, and cached: building it on a
    one-core host takes minutes. Keyed by its sources and the toolchain's version."""
    src = APPS_DIR / "k6"
    digest = hashlib.sha256(go_version.encode() + b"\0")
    for path in sorted(src.glob("*")):
        if path.is_file():
            digest.update(path.read_bytes())
    binary = cache_dir() / "bin" / f"k6-{digest.hexdigest()[:16]}"
    if binary.is_file():
        return binary
    binary.parent.mkdir(parents=True, exist_ok=True)
    say("go build k6 (go.k6.io/k6, pinned in apps/k6/go.mod) on the control machine, once")
    tmp = binary.with_suffix(".partial")
    out = _run_go(
        go,
        ["build", "-trimpath", "-o", str(tmp), "."],
        src,
        cache_dir() / "gomod-apps",
        "-modcacherw -mod=readonly",
        GOCACHE=str(go_build_cache()),  # the hosts' too: the apps' builds reuse its standard library
        CGO_ENABLED="0",
    )
    if out.returncode != 0:
        raise LabFailure(f"go build of k6 failed: {' | '.join(out.stderr.strip().splitlines()[-3:])}")
    tmp.rename(binary)
    return binary


def control_go(toolchain: GoToolchain) -> Path:
    """The pinned toolchain unpacked on the control machine, so module downloads do not depend on
    whichever Go the control machine has."""
    root = cache_dir() / "go" / toolchain.version
    go = root / "bin" / "go"
    if go.is_file():
        return go
    tmp = root.with_name(root.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    prefix = f"golang.org/toolchain@{toolchain.module_version}/"
    with zipfile.ZipFile(toolchain.zip_path) as zf:
        for info in zf.infolist():
            if info.is_dir() or not info.filename.startswith(prefix):
                continue
            rel = info.filename[len(prefix) :]
            dest = tmp / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, dest.open("wb") as out:
                shutil.copyfileobj(src, out)
            if rel.startswith(("bin/", "pkg/tool/")):
                dest.chmod(0o755)
    tmp.rename(root)
    return go


@dataclass(frozen=True)
class GoToolchain:
    version: str
    module_version: str
    zip_path: Path


def go_toolchain(version: str, module_version: str, h1: str, say) -> GoToolchain:
    """The toolchain module zip, downloaded once with `go mod download` and checked against h1."""
    gomod = cache_dir() / "gomod"
    zip_path = gomod / "cache" / "download" / "golang.org" / "toolchain" / "@v" / f"{module_version}.zip"
    if not zip_path.is_file():
        go = shutil.which("go")
        if not go:
            raise UserError(
                "the control machine has no `go` command, needed to fetch the pinned Go toolchain "
                "module; install it (`apt-get install golang-go`; `make lab` does)"
            )
        say(f"go mod download golang.org/toolchain@{module_version}")
        cache_dir().mkdir(parents=True, exist_ok=True)  # its working directory (a fresh clone has none)
        out = _run_go(
            Path(go),
            ["mod", "download", "-json", f"golang.org/toolchain@{module_version}"],
            cache_dir(),
            gomod,
            "-modcacherw",
        )
        if out.returncode != 0:
            detail = out.stdout.strip() or out.stderr.strip()
            with contextlib.suppress(ValueError):
                detail = json.loads(out.stdout).get("Error", detail)
            raise LabFailure(f"go mod download golang.org/toolchain@{module_version}: {detail}")
    # Hashing 70 MB takes a second: do it once per download, remember the verified value.
    verified = zip_path.with_name(zip_path.name + ".h1-verified")
    if not verified.is_file() or verified.read_text().strip() != h1:
        got = zip_h1(zip_path)
        if got != h1:
            zip_path.unlink()
            raise LabFailure(
                f"Go toolchain zip {zip_path.name} hashes to {got}, not the pinned {h1} "
                "(go_toolchain_h1 in playbooks/group_vars/all.yml); the download was removed"
            )
        verified.write_text(h1 + "\n")
    return GoToolchain(version, module_version, zip_path)


def zip_h1(path: Path) -> str:
    """Go's dirhash Hash1 of a module zip: the value go.sum records for it."""
    summary = io.StringIO()
    with zipfile.ZipFile(path) as zf:
        for name in sorted(zf.namelist()):
            digest = hashlib.sha256(zf.read(name)).hexdigest()
            summary.write(f"{digest}  {name}\n")
    return "h1:" + base64.b64encode(hashlib.sha256(summary.getvalue().encode()).digest()).decode()


PIN_KEYS = ("go_toolchain_version", "go_toolchain_module_version", "go_toolchain_h1")


def shared(pins: tuple[str, ...], say) -> tuple[GoToolchain, Bundle, Bundle, Path]:
    """What every host gets alike, for one toolchain pin: the toolchain, the wheelhouse, the Go
    modules and k6 (a cold cache's minute, most of it k6's build; cached, keyed by their inputs)."""
    version, module_version, h1 = pins
    toolchain = go_toolchain(version, module_version, h1, say)
    wheels = wheelhouse(say)
    go = control_go(toolchain)
    return toolchain, wheels, go_modules(go, say), k6_binary(go, toolchain.version, say)


def ahead() -> None:
    """`shared` with the roles' default pins (the local lab's inventory sets none), before any host
    exists: `lab up` runs it while its hosts boot. A failure only says so: provisioning prepares
    them again and stops there with its own clear error."""
    try:
        shared(tuple(shared_defaults()[k] for k in PIN_KEYS), lambda message: step(f"meanwhile: {message}"))
    except Exception as exc:  # best effort: the lab itself is built either way
        step(f"meanwhile: provisioning's downloads and builds not ready ({exc}); `provision` tries again")
        return
    step("meanwhile: provisioning's downloads and k6 are ready in the cache")
