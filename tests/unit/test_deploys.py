"""The pyinfra deploys, facts in and operations out, in the manner of pyinfra's own operation tests.

Each deploy runs in-process for one host of a real pyinfra State and Inventory, built from a lab
inventory as the engine builds them (build_inventory, pyinfra_host_data). A fake host answers every
fact, so nothing connects anywhere; the test then reads the operations the deploy added, pyinfra's
verdict on whether each would change the host, and their commands and uploads.
"""

from __future__ import annotations

import hashlib
import inspect
import io
import json
import os
import re
import shlex
import subprocess
import tarfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from pyinfra.api import Config, State
from pyinfra.api.command import FileUploadCommand, StringCommand
from pyinfra.api.deploy import add_deploy
from pyinfra.context import ctx_host, ctx_state
from pyinfra.facts import deb, pip, server
from pyinfra.facts import files as ffacts

from tests.conftest import valid_inventory
from webbench_lab.apps import systems
from webbench_lab.defaults import host_vars, python_pins, shared_defaults
from webbench_lab.hosts.inventory import LabInventory, load_inventory
from webbench_lab.paths import AGENT
from webbench_lab.provision.artifacts import Bundle, GoToolchain
from webbench_lab.provision.deploys._ops import (
    bounded_apt_update,
    install_packages,
    put_template,
    unpack_bundle,
)
from webbench_lab.provision.deploys.apps import apps
from webbench_lab.provision.deploys.backend import backend
from webbench_lab.provision.deploys.chroot_jail import chroot_jail
from webbench_lab.provision.deploys.common import common
from webbench_lab.provision.deploys.go_toolchain import go_toolchain
from webbench_lab.provision.deploys.loadgen import loadgen
from webbench_lab.provision.deploys.nginx_fcgi import nginx_fcgi
from webbench_lab.provision.deploys.python_stack import python_stack
from webbench_lab.provision.deploys.redis import redis
from webbench_lab.provision.deploys.site import Artifacts, site
from webbench_lab.provision.pyinfra_engine import build_inventory
from webbench_lab.provision.roles import roles_of
from webbench_lab.templating import render

# What a minimal Debian install has before the lab touches it.
BASE_DIRS = ("/", "/etc", "/etc/apt", "/etc/apt/apt.conf.d", "/opt", "/srv", "/tmp", "/usr", "/usr/local")
BASE_DIRS += ("/usr/local/bin", "/usr/sbin", "/var", "/var/lib", "/var/lib/apt", "/var/lib/apt/periodic")
APT_INSTALL = (
    'DEBIAN_FRONTEND=noninteractive apt-get -y -o Dpkg::Options::="--force-confdef" '
    '-o Dpkg::Options::="--force-confold" install --no-install-recommends'
)
# The bounds of roles/common/defaults/main.yml (120 s, 3 attempts) and pyinfra's stamp.
APT_UPDATE = [bounded_apt_update(120, 3), "touch /var/lib/apt/periodic/update-success-stamp"]


# The fake host ----------------------------------------------------------------------------------


@dataclass
class Remote:
    """A fake Debian host: its files, directories, links, packages, users and pip packages, and the
    facts pyinfra reads from them. A fact it does not model fails the test, so no operation
    silently decides on a default and nothing reaches for a connection."""

    files: dict[str, tuple[bytes, int, str, str]] = field(default_factory=dict)  # content, mode, owner
    dirs: dict[str, tuple[int, str, str]] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)
    packages: set[str] = field(default_factory=set)
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    pip: dict[str, dict[str, set[str]]] = field(default_factory=dict)  # pip path -> name -> versions

    def __post_init__(self) -> None:
        for path in BASE_DIRS:
            self.dirs.setdefault(path, (755, "root", "root"))

    def add_dir(self, path: str, mode: int = 755, user: str = "root", group: str = "root") -> None:
        self._parents(path)
        self.dirs[path] = (mode, user, group)

    def add_file(self, path: str, content: str | bytes, mode: int = 644, owner: str = "root") -> None:
        self._parents(path)
        self.files[path] = (content.encode() if isinstance(content, str) else content, mode, owner, owner)

    def add_link(self, path: str, target: str) -> None:
        self._parents(path)
        self.links[path] = target

    def _parents(self, path: str) -> None:
        parent = path.rsplit("/", 1)[0] or "/"
        if parent not in self.dirs:
            self.add_dir(parent)

    def under(self, path: str) -> list[str]:
        """Every entry below `path`, as `find <path> -mindepth 1` lists them."""
        return sorted(p for p in (*self.files, *self.dirs, *self.links) if p.startswith(f"{path}/"))

    def _stat(self, path: str, kind: str) -> dict[str, Any] | bool | None:
        if path in self.files:
            found, (content, mode, user, group) = "file", self.files[path]
            info = {"mode": mode, "user": user, "group": group, "size": len(content)}
        elif path in self.dirs:
            found, (mode, user, group) = "directory", self.dirs[path]
            info = {"mode": mode, "user": user, "group": group, "size": 4096}
        elif path in self.links:
            found = "link"
            info = {"mode": 777, "user": "root", "group": "root", "size": 0, "link_target": self.links[path]}
        else:
            return None
        return {**info, "atime": None, "mtime": None, "ctime": None} if found == kind else False

    def fact(self, cls: type, *args: Any, **kwargs: Any) -> Any:
        """host.get_fact for this host: the arguments bound as pyinfra binds them."""
        params = inspect.getcallargs(cls().command, *args, **kwargs)
        params.pop("self", None)
        path = params.get("path")
        kinds = {ffacts.File: "file", ffacts.Directory: "directory", ffacts.Link: "link"}
        hashes = {
            ffacts.Sha1File: hashlib.sha1,
            ffacts.Md5File: hashlib.md5,
            ffacts.Sha256File: hashlib.sha256,
        }
        if cls in kinds:
            return self._stat(path, kinds[cls])
        if cls in hashes:
            return hashes[cls](self.files[path][0]).hexdigest() if path in self.files else None
        if cls is deb.DebPackages:
            return {name: {"1.0"} for name in self.packages}
        if cls is pip.PipPackages:
            return self.pip.get(params["pip"], {})
        if cls is server.Users:
            return self.users
        if cls is server.Groups:
            return ["root", *(u["group"] for u in self.users.values())]
        if cls is server.Os:
            return "Linux"
        if cls is server.Which:  # every command an operation looks for (useradd) is installed
            return f"/usr/bin/{params['command']}"
        if cls is server.TmpDir:
            return "/tmp"
        if cls is server.Date:
            return datetime(2026, 1, 1)
        if cls is server.Command:
            found = re.fullmatch(r"find (\S+) -mindepth 1 2>/dev/null \|\| true", params["command"])
            if found:
                return "\n".join(self.under(shlex.split(found[1])[0])) or None
        raise AssertionError(f"the fake host does not model the fact {cls.__name__}({params})")


# Running a deploy ---------------------------------------------------------------------------------


@dataclass
class Op:
    """One operation a deploy added for the host, with its commands as pyinfra would run them."""

    name: str
    changes: bool  # pyinfra's verdict from the facts alone (what `provision --check` reports)
    commands: list[str]
    uploads: dict[str, bytes]  # remote path -> the bytes an upload would write

    @property
    def title(self) -> str:
        """The operation's own name, without the deploy's."""
        return self.name.rsplit(" | ", 1)[-1]

    @property
    def deploy(self) -> str:
        """The @deploy that added the operation ("" for a bare function)."""
        return self.name.split(" | ", 1)[0] if " | " in self.name else ""


def _refuse_connection(*args: Any, **kwargs: Any) -> None:
    raise AssertionError("a deploy under test tried to connect to its host")


def _command(command: Any, uploads: dict[str, bytes]) -> str:
    if isinstance(command, StringCommand):
        return command.get_raw_value()
    if isinstance(command, FileUploadCommand):
        src = command.src
        uploads[command.dest] = (
            src.getvalue().encode() if isinstance(src, io.StringIO) else Path(src).read_bytes()
        )
        return f"upload {command.dest}"
    raise AssertionError(f"unexpected command {command!r}")


def run(
    inventory: LabInventory, name: str, remote: Remote, deploy: Callable, *args: Any, **kwargs: Any
) -> list[Op]:
    """Add `deploy` for host `name` to a fresh State (as the engine does, without connecting) and
    return its operations in order."""
    state = State(build_inventory(inventory), Config())
    host = state.inventory.get_host(name)
    host.get_fact = remote.fact  # type: ignore[method-assign]
    host.connect = _refuse_connection  # type: ignore[method-assign]
    add_deploy(state, deploy, *args, host=host, **kwargs)
    ops = []
    with ctx_state.use(state), ctx_host.use(host):
        for op_hash in host.op_hash_order:
            data = state.get_op_data_for_host(host, op_hash)
            uploads: dict[str, bytes] = {}
            commands = [_command(c, uploads) for c in data.command_generator()]
            name_ = ", ".join(sorted(state.op_meta[op_hash].names))
            ops.append(Op(name_, bool(data.operation_meta._maybe_is_change), commands, uploads))
    return ops


def by_title(ops: list[Op]) -> dict[str, Op]:
    """The operations by their own names (which must be unique within the run)."""
    titles = {op.title: op for op in ops}
    assert len(titles) == len(ops), [op.title for op in ops]
    return titles


def changed(ops: list[Op]) -> list[str]:
    """The operations that would change the host: pyinfra's verdict, or any command at all."""
    return [op.name for op in ops if op.changes or op.commands]


# The lab ------------------------------------------------------------------------------------------


@pytest.fixture
def lab(write_inventory, ssh_files) -> Callable[..., LabInventory]:
    """The two-host test inventory (gen1 in generator, srv1 in server), with `overrides` as
    inventory vars of all hosts (they win over the role defaults, as in Ansible)."""

    def make(**overrides: Any) -> LabInventory:
        data = valid_inventory(*ssh_files)
        data["all"]["vars"].update(overrides)
        return load_inventory(write_inventory(text=yaml.safe_dump(data)))

    return make


@pytest.fixture
def inv(lab) -> LabInventory:
    return lab()


def host_data(inventory: LabInventory, name: str) -> dict[str, Any]:
    return host_vars(inventory.hosts[name].vars)


def make_artifacts(tmp_path: Path, inventory: LabInventory) -> Artifacts:
    """What prepare() hands the deploys, as small local files (uploads read them)."""

    def bundle(name: str, digest: str) -> Bundle:
        tarball = tmp_path / f"{name}-{digest}.tar"
        tarball.write_bytes(f"{name} tarball".encode())
        return Bundle(tarball, digest)

    v = host_data(inventory, "srv1")
    zip_path = tmp_path / f"{v['go_toolchain_module_version']}.zip"
    zip_path.write_bytes(b"PK toolchain")
    k6 = tmp_path / "k6"
    k6.write_bytes(b"\x7fELF k6 built on the control machine")
    return Artifacts(
        toolchain=GoToolchain(v["go_toolchain_version"], v["go_toolchain_module_version"], zip_path),
        wheels=bundle("wheelhouse", "aaaa1111aaaa1111"),
        sources=bundle("apps", "bbbb2222bbbb2222"),
        goproxy=bundle("goproxy", "cccc3333cccc3333"),
        k6=k6,
        backend_hosts=["gen1"],
        jailed=["gin", "go-http"],
        nginx_sites={"srv1": systems.nginx_sites(v)},
        roles=roles_for(inventory, ["gen1"]),
    )


def roles_for(inventory, backend_hosts: list[str]) -> dict[str, list[str]]:
    """As prepare() computes them (provision/roles.py)."""
    return {name: roles_of(h.groups, name in backend_hosts) for name, h in inventory.hosts.items()}


@pytest.fixture
def art(tmp_path, inv) -> Artifacts:
    return make_artifacts(tmp_path, inv)


def backend_record(release: str, v: dict[str, Any]) -> str:
    """build/backend/result.json as `app build` reads it (written here, not taken from the deploy)."""
    binary = f"{v['apps_build_root']}/backend/backend"
    return json.dumps({"release": release, "ok": True, "reason": "", "binary": binary}) + "\n"


def provisioned(v: dict[str, Any], art: Artifacts, groups: tuple[str, ...], backend_host: bool) -> Remote:
    """A host as a completed provisioning leaves it (every role that applies to its groups)."""
    r = Remote()
    user, home = v["common_app_user"], v["common_app_home"]
    # common
    r.add_file(v["common_policy_rc"], render_for(v, "host/policy-rc.d.j2"), mode=755)
    r.packages.update(v["common_packages"])
    r.users[user] = {"home": home, "shell": "/usr/sbin/nologin", "group": user, "groups": []}
    r.add_dir(home, mode=755, user=user, group=user)
    r.add_dir(v["common_config_dir"])
    # go_toolchain
    goroot = f"{v['go_toolchain_root']}/{art.toolchain.version}"
    r.add_file(f"{goroot}/bin/go", b"go", mode=755)
    r.add_file(f"{goroot}/bin/gofmt", b"gofmt", mode=755)
    r.add_file(f"{goroot}/go.env", render_for(v, "server/go.env.j2"))
    for tool in ("go", "gofmt"):
        r.add_link(f"/usr/local/bin/{tool}", f"{goroot}/bin/{tool}")
    # apps
    releases = f"{v['apps_root']}/releases"
    r.add_dir(f"{releases}/{art.sources.digest}")
    r.add_link(f"{v['apps_root']}/current", f"{releases}/{art.sources.digest}")
    r.add_dir(f"{v['apps_goproxy_releases']}/{art.goproxy.digest}")
    r.add_link(
        v["go_toolchain_goproxy"].removeprefix("file://"),
        f"{v['apps_goproxy_releases']}/{art.goproxy.digest}",
    )
    r.add_file(v["apps_agent"], AGENT.read_bytes(), mode=755)
    r.add_dir(v["apps_build_root"])
    r.add_dir(v["apps_cache_root"])
    r.add_dir(v["apps_run_root"], user=user, group=user)
    if backend_host:
        r.add_file(f"{v['apps_build_root']}/backend/result.json", backend_record(art.sources.digest, v))
    if "generator" in groups:
        r.packages.update(v["loadgen_packages"])
        r.add_file(v["loadgen_k6_path"], art.k6.read_bytes(), mode=755)
        r.add_link(v["loadgen_k6_link"], v["loadgen_k6_path"])
        r.add_file(v["loadgen_siegerc"], render_for(v, "generator/siegerc.j2"))
    if "server" in groups:
        r.packages.update(v["python_stack_packages"])
        r.add_dir(f"{v['python_stack_wheelhouse']}/{art.wheels.digest}")
        r.add_file(f"{v['python_stack_venv']}/bin/activate", "# venv")
        r.pip[f"{v['python_stack_venv']}/bin/pip"] = {
            name: {version} for name, version in (pin.split("==") for pin in python_pins())
        }
        r.packages.update(v["nginx_fcgi_packages"])
        r.add_dir(v["nginx_fcgi_config_dir"])
        for s in systems.nginx_sites(v):
            r.add_file(s.pop("dest"), render_for(v, "server/nginx.conf.j2", **s))
        r.packages.update(v["redis_packages"])
        r.add_file(v["redis_config"], render_for(v, "server/redis.conf.j2"))
        for name in art.jailed:
            r.add_file(f"{v['chroot_jail_dir']}/{name}/{name}", b"static binary", mode=555)
    return r


def render_for(v: dict[str, Any], template: str, **extra: Any) -> str:
    return render(template, **{**v, **extra})


# The harness itself --------------------------------------------------------------------------------


def test_a_fact_the_fake_host_does_not_model_fails_instead_of_defaulting(inv):
    """Every fact comes from the fake host: none may fall back to pyinfra's default or a connection."""
    from pyinfra import host

    with pytest.raises(AssertionError, match="does not model the fact Hostname"):
        run(inv, "srv1", Remote(), lambda: host.get_fact(server.Hostname))


# _ops: packages, templates, bundles ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("installed", "missing"),
    [
        ((), ["ca-certificates", "procps", "python3"]),
        (("procps",), ["ca-certificates", "python3"]),
        (("ca-certificates", "procps", "python3"), []),
    ],
)
def test_apt_lists_are_updated_only_when_a_package_is_missing(inv, installed, missing):
    """apt-get update costs time and shows a change: only a missing package justifies it."""
    wanted = ["ca-certificates", "procps", "python3"]
    ops = run(inv, "srv1", Remote(packages=set(installed)), lambda: install_packages("Some packages", wanted))
    if missing:
        assert [(op.title, op.commands) for op in ops] == [
            ("Update apt lists", APT_UPDATE),
            ("Some packages", [f"{APT_INSTALL} {' '.join(missing)}"]),
        ]
    else:
        assert [(op.title, op.changes, op.commands) for op in ops] == [("Some packages", False, [])]


def test_both_engines_keep_the_apt_lists_stamp_where_pyinfra_looks():
    """The Ansible roles judge the lists' age by common_apt_update_stamp; pyinfra by its own
    constant. Were they apart, one engine would refresh after the other had just done so."""
    from pyinfra.operations.apt import APT_UPDATE_FILENAME

    assert shared_defaults()["common_apt_update_stamp"] == APT_UPDATE_FILENAME


@pytest.mark.parametrize(
    ("fake", "code", "failed"), [("sleep 100", 1, 2), ("exit 1", 1, 2), ("exit 0", 0, 0)]
)
def test_apt_get_update_is_killed_when_it_hangs_and_tried_again(tmp_path, fake, code, failed):
    """The bounded command, run by sh against a fake apt-get: one that hangs or fails is tried
    `attempts` times, each with a line, then the command fails; one that works ends it at once."""
    (tmp_path / "apt-get").write_text(f"#!/bin/sh\n{fake}\n")
    (tmp_path / "apt-get").chmod(0o755)
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"}
    done = subprocess.run(["sh", "-c", bounded_apt_update(timeout_s=1, attempts=2)],
                          env=env, capture_output=True, text=True, timeout=30)  # fmt: skip
    assert done.returncode == code
    lines = [f"apt-get update: attempt {i} of 2 failed or hung" for i in (1, 2)]
    assert done.stderr.splitlines() == lines[:failed]


def test_put_template_renders_the_host_variables_and_a_loop_item_over_them(lab):
    """A template sees the host's variables (inventory over role defaults); an item wins over both."""
    inventory = lab(redis_port=6390, apps_run_root="/srv/run")
    dest = "/etc/webbench/redis.conf"
    ops = run(inventory, "srv1", Remote(), lambda: put_template("server/redis.conf.j2", dest))
    (op,) = ops
    assert op.commands == [
        "mkdir -p /etc/webbench",
        "chown root:root /etc/webbench",
        f"upload {dest}",
        f"chown root:root {dest}",
        f"chmod 644 {dest}",
    ]
    text = op.uploads[dest].decode()
    assert "\nport 6390\n" in text and "\ndir /srv/run/redis\n" in text
    (op,) = run(
        inventory, "srv1", Remote(), lambda: put_template("server/redis.conf.j2", dest, redis_port=7001)
    )
    assert "\nport 7001\n" in op.uploads[dest].decode()


def test_put_template_leaves_an_identical_file_alone_and_fixes_what_differs(inv):
    """pyinfra compares checksums, mode and owner: only what differs is done again."""
    dest = "/etc/webbench/redis.conf"
    text = render_for(host_data(inv, "srv1"), "server/redis.conf.j2")

    def again(remote: Remote) -> Op:
        (op,) = run(inv, "srv1", remote, lambda: put_template("server/redis.conf.j2", dest))
        return op

    same = Remote()
    same.add_file(dest, text)
    op = again(same)
    assert (op.changes, op.commands) == (False, [])
    edited = Remote()
    edited.add_file(dest, text.replace("port 6379", "port 1"))
    assert again(edited).commands == [f"upload {dest}", f"chown root:root {dest}", f"chmod 644 {dest}"]
    loose = Remote()
    loose.add_file(dest, text, mode=666, owner="webbench")
    assert again(loose).commands == [f"chmod 644 {dest}", f"chown root:root {dest}"]


def test_unpack_bundle_uploads_unpacks_and_links_a_missing_release(inv, art):
    bundle, parent, link = art.sources, "/opt/webbench/apps/releases", "/opt/webbench/apps/current"
    target, upload = f"{parent}/{bundle.digest}", f"{parent}/.{bundle.tarball.name}"
    ops = run(inv, "srv1", Remote(), lambda: unpack_bundle("apps sources", bundle, parent, link))
    assert [op.title for op in ops] == [
        f"Directory {parent}",
        "Upload apps sources",
        f"Unpack apps sources into {target}",
        f"{link} -> apps sources {bundle.digest}",
    ]
    assert all(op.changes for op in ops)
    up, unpack, ln = ops[1:]
    assert up.commands == [f"mkdir -p {parent}", f"upload {upload}", f"chmod 600 {upload}"]
    assert up.uploads == {upload: bundle.tarball.read_bytes()}
    (script,) = unpack.commands
    assert f"tar -xf {upload} -C {target}.partial" in script
    assert f"mv {target}.partial {target} && rm -f {upload}" in script
    assert ln.commands == ["mkdir -p /opt/webbench/apps", f"ln -s {target} {link}"]


def test_unpack_bundle_never_touches_an_unpacked_release_and_moves_the_link_to_a_new_one(inv, art):
    """An unpacked folder is final (no Upload, no Unpack); a new release only moves the link."""
    parent, link = "/opt/webbench/apps/releases", "/opt/webbench/apps/current"
    remote = Remote()
    remote.add_dir(f"{parent}/{art.sources.digest}")
    remote.add_link(link, f"{parent}/{art.sources.digest}")
    ops = run(inv, "srv1", remote, lambda: unpack_bundle("apps sources", art.sources, parent, link))
    assert [op.title for op in ops] == [f"Directory {parent}", f"{link} -> apps sources {art.sources.digest}"]
    assert changed(ops) == []

    new = Bundle(art.sources.tarball, "dddd4444dddd4444")
    remote.add_dir(f"{parent}/{new.digest}")  # unpacked earlier, not linked
    ops = run(inv, "srv1", remote, lambda: unpack_bundle("apps sources", new, parent, link))
    assert [op.commands for op in ops] == [[], [f"rm -f {link}", f"ln -s {parent}/{new.digest} {link}"]]


def test_the_unpack_commands_leave_the_folder_the_next_run_looks_for(lab, art, tmp_path):
    """Run the rendered script for real in a temp lab root: the release folder it leaves is the
    one whose presence makes the next run skip the upload."""
    root = tmp_path / "lab"
    inventory = lab(common_lab_root=str(root))
    with tarfile.open(art.sources.tarball, "w") as tar:
        info = tarfile.TarInfo("backend/main.go")
        info.size = len(b"package main\n")
        tar.addfile(info, io.BytesIO(b"package main\n"))
    parent = f"{root}/apps/releases"
    op = by_title(run(inventory, "srv1", Remote(), lambda: unpack_bundle("apps", art.sources, parent)))
    upload = Path(parent) / f".{art.sources.tarball.name}"
    upload.parent.mkdir(parents=True)
    upload.write_bytes(art.sources.tarball.read_bytes())  # what the upload op puts there
    for command in op[f"Unpack apps into {parent}/{art.sources.digest}"].commands:
        subprocess.run(["sh", "-c", command], check=True, timeout=30)
    target = Path(parent) / art.sources.digest
    assert (target / "backend" / "main.go").read_text() == "package main\n"
    assert not upload.exists() and not target.with_name(f"{target.name}.partial").exists()
    remote = Remote()
    remote.add_dir(str(target))
    titles = [
        o.title for o in run(inventory, "srv1", remote, lambda: unpack_bundle("apps", art.sources, parent))
    ]
    assert titles == [f"Directory {parent}"]


# common ---------------------------------------------------------------------------------------------


def test_common_on_a_fresh_host(inv):
    v = host_data(inv, "srv1")
    ops = run(inv, "srv1", Remote(), common)
    assert {op.deploy for op in ops} == {"Common base"}
    assert [(op.title, op.changes) for op in ops] == [
        ("No lab apt proxy", False),  # nothing to remove
        ("Render /usr/sbin/policy-rc.d", True),
        ("Update apt lists", True),
        ("Base packages", True),
        ("Unprivileged user webbench", True),
        ("Directory for the lab's configuration", True),
    ]
    op = by_title(ops)
    policy = op["Render /usr/sbin/policy-rc.d"]
    assert policy.commands[-1] == "chmod 755 /usr/sbin/policy-rc.d"
    assert policy.uploads["/usr/sbin/policy-rc.d"].decode().rstrip().endswith("exit 101")
    assert op["Base packages"].commands == [f"{APT_INSTALL} {' '.join(v['common_packages'])}"]
    assert op["Unprivileged user webbench"].commands == [
        "useradd -d /var/lib/webbench -s /usr/sbin/nologin -r -m webbench",
        "mkdir -p /var/lib/webbench",
        "chown webbench:webbench /var/lib/webbench",
    ]
    assert op["Directory for the lab's configuration"].commands == [
        "mkdir -p /etc/webbench",
        "chmod 755 /etc/webbench",
        "chown root:root /etc/webbench",
    ]


def test_common_renders_the_apt_proxy_the_inventory_sets(lab):
    inventory = lab(common_apt_proxy="http://10.0.0.1:3142")
    dest = "/etc/apt/apt.conf.d/01webbench-lab-proxy"
    op = by_title(run(inventory, "srv1", Remote(), common))
    assert "No lab apt proxy" not in op
    assert 'Acquire::http::Proxy "http://10.0.0.1:3142";' in op[f"Render {dest}"].uploads[dest].decode()


def test_common_removes_a_proxy_file_the_inventory_no_longer_sets(inv):
    remote = Remote()
    remote.add_file("/etc/apt/apt.conf.d/01webbench-lab-proxy", 'Acquire::http::Proxy "http://old";\n')
    op = by_title(run(inv, "srv1", remote, common))["No lab apt proxy"]
    assert (op.changes, op.commands) == (True, ["rm -f /etc/apt/apt.conf.d/01webbench-lab-proxy"])


def test_common_installs_no_policy_rc_when_services_may_start(lab):
    titles = [op.title for op in run(lab(common_block_service_autostart=False), "srv1", Remote(), common)]
    assert not any("policy-rc.d" in title for title in titles)
    assert "Base packages" in titles


# go_toolchain ---------------------------------------------------------------------------------------


def test_go_toolchain_on_a_fresh_host(inv, art):
    tc = art.toolchain
    root, goroot = "/opt/webbench/go", f"/opt/webbench/go/{tc.version}"
    upload, prefix = f"{root}/.{tc.module_version}.zip", f"golang.org/toolchain@{tc.module_version}"
    ops = run(inv, "srv1", Remote(), go_toolchain, tc)
    assert [op.title for op in ops] == [
        f"Directory {root}",
        f"Upload go{tc.version} module zip",
        f"Unpack go{tc.version} into {goroot}",
        f"Render {goroot}/go.env",
        f"/usr/local/bin/go -> go{tc.version}",
        f"/usr/local/bin/gofmt -> go{tc.version}",
    ]
    assert all(op.changes for op in ops)
    op = by_title(ops)
    assert op[f"Upload go{tc.version} module zip"].uploads == {upload: tc.zip_path.read_bytes()}
    unpack = op[f"Unpack go{tc.version} into {goroot}"].commands
    assert unpack[0] == f"rm -rf {goroot} {root}/.unpack && mkdir -p {root}/.unpack"
    assert unpack[1].endswith(f" {upload} {root}/.unpack")
    assert unpack[-1] == f"mv '{root}/.unpack/{prefix}' {goroot} && rm -rf {root}/.unpack {upload}"
    env = op[f"Render {goroot}/go.env"].uploads[f"{goroot}/go.env"].decode()
    assert "\nGOPROXY=file:///opt/webbench/goproxy\n" in env and "\nGOTOOLCHAIN=local\n" in env
    assert op[f"/usr/local/bin/go -> go{tc.version}"].commands == [f"ln -s {goroot}/bin/go /usr/local/bin/go"]


def test_go_toolchain_is_unpacked_once_per_version(inv, art, tmp_path):
    """An installed version is never uploaded again; a new one is unpacked beside it and linked."""
    v, tc = host_data(inv, "srv1"), art.toolchain
    remote = provisioned(v, art, ("server",), backend_host=False)
    ops = run(inv, "srv1", remote, go_toolchain, tc)
    assert not any(op.title.startswith(("Upload", "Unpack")) for op in ops)
    assert changed(ops) == []

    newer = GoToolchain("1.27.0", "v0.0.1-go1.27.0.linux-amd64", tmp_path / "newer.zip")
    newer.zip_path.write_bytes(b"PK newer")
    op = by_title(run(inv, "srv1", remote, go_toolchain, newer))
    assert "Unpack go1.27.0 into /opt/webbench/go/1.27.0" in op
    assert op["/usr/local/bin/gofmt -> go1.27.0"].commands == [
        "rm -f /usr/local/bin/gofmt",
        "ln -s /opt/webbench/go/1.27.0/bin/gofmt /usr/local/bin/gofmt",
    ]


# apps -------------------------------------------------------------------------------------------------


def test_apps_on_a_fresh_host(inv, art):
    ops = run(inv, "srv1", Remote(), apps, art.sources, art.goproxy)
    assert all(op.changes for op in ops)
    op = by_title(ops)
    src, mods = art.sources.digest, art.goproxy.digest
    assert f"Unpack apps sources into /opt/webbench/apps/releases/{src}" in op
    assert f"Unpack Go modules into /opt/webbench/goproxy-releases/{mods}" in op
    assert op[f"/opt/webbench/goproxy -> Go modules {mods}"].commands[-1] == (
        f"ln -s /opt/webbench/goproxy-releases/{mods} /opt/webbench/goproxy"
    )
    agent = op["appctl agent"]
    assert agent.uploads == {"/opt/webbench/lib/appctl.py": AGENT.read_bytes()}
    assert agent.commands[-1] == "chmod 755 /opt/webbench/lib/appctl.py"
    for path in ("/opt/webbench/build", "/opt/webbench/cache"):
        assert op[f"Directory {path}"].commands[-1] == f"chown root:root {path}"
    assert op["Run directory of the apps"].commands == [
        "mkdir -p /var/lib/webbench/run",
        "chmod 755 /var/lib/webbench/run",
        "chown webbench:webbench /var/lib/webbench/run",
    ]


def test_apps_follow_the_lab_root_the_inventory_sets(lab, art):
    """Every path is derived from common_lab_root as Ansible resolves the role defaults."""
    ops = run(lab(common_lab_root="/srv/lab"), "srv1", Remote(), apps, art.sources, art.goproxy)
    paths = [c for op in ops for c in op.commands if not c.startswith("set -e")]
    assert paths and not any("/opt/webbench" in c for c in paths)
    op = by_title(ops)
    assert f"/srv/lab/goproxy -> Go modules {art.goproxy.digest}" in op
    assert "/srv/lab/lib/appctl.py" in op["appctl agent"].uploads


# backend ----------------------------------------------------------------------------------------------


def test_backend_is_built_when_its_record_is_missing_or_of_another_release(inv, art):
    v = host_data(inv, "gen1")
    record = f"{v['apps_build_root']}/backend/result.json"
    (build,) = run(inv, "gen1", Remote(), backend, art.sources)
    assert build.title == "Build backend (go build)"
    mkdir, go_build, mv, write = build.commands
    assert mkdir == "mkdir -p /opt/webbench/build/backend"
    assert go_build.startswith("cd /opt/webbench/apps/current/backend && env HOME=/opt/webbench/cache ")
    assert " go build -trimpath -o /opt/webbench/build/backend/backend.new . " in go_build
    assert mv == "mv /opt/webbench/build/backend/backend.new /opt/webbench/build/backend/backend"
    assert write.endswith(f" > {record}")

    built = Remote()
    built.add_file(record, backend_record(art.sources.digest, v))
    assert run(inv, "gen1", built, backend, art.sources) == []
    older = Remote()
    older.add_file(record, backend_record("0000older0000000", v))
    assert [op.title for op in run(inv, "gen1", older, backend, art.sources)] == ["Build backend (go build)"]


def test_the_record_the_build_writes_is_the_one_the_next_run_compares(inv, art):
    """Run the printf of the build for real: the bytes it writes are what `app build` reads and
    what makes the next provisioning skip the build."""
    (build,) = run(inv, "gen1", Remote(), backend, art.sources)
    command, dest = build.commands[-1].rsplit(" > ", 1)
    written = subprocess.run(["sh", "-c", command], check=True, capture_output=True, timeout=30).stdout
    assert json.loads(written) == {
        "release": art.sources.digest,
        "ok": True,
        "reason": "",
        "binary": "/opt/webbench/build/backend/backend",
    }
    remote = Remote()
    remote.add_file(dest, written)
    assert run(inv, "gen1", remote, backend, art.sources) == []


# loadgen ----------------------------------------------------------------------------------------------


def test_loadgen_on_a_fresh_host(lab, art):
    inventory = lab(loadgen_siege_concurrency=300)
    ops = run(inventory, "gen1", Remote(), loadgen, art.k6)
    assert [op.title for op in ops] == [
        "Update apt lists",
        "siege and wrk",
        "Directory for k6",
        "k6 (built from go.k6.io/k6, pinned in apps/k6)",
        "/usr/local/bin/k6 -> the lab's k6 build",
        "Render /etc/webbench/siegerc",
    ]
    op = by_title(ops)
    assert op["siege and wrk"].commands == [f"{APT_INSTALL} siege wrk"]
    k6 = op["k6 (built from go.k6.io/k6, pinned in apps/k6)"]
    assert k6.uploads == {"/opt/webbench/build/k6/k6": art.k6.read_bytes()}
    assert k6.commands[-1] == "chmod 755 /opt/webbench/build/k6/k6"
    link = op["/usr/local/bin/k6 -> the lab's k6 build"]
    assert link.commands == ["ln -s /opt/webbench/build/k6/k6 /usr/local/bin/k6"]
    siegerc = op["Render /etc/webbench/siegerc"].uploads["/etc/webbench/siegerc"].decode()
    assert "\nconcurrent = 300\n" in siegerc and "\nlimit = 300\n" in siegerc  # limit: max(255, users)


# python_stack -----------------------------------------------------------------------------------------


def test_python_stack_on_a_fresh_host(inv, art):
    wheels = f"/opt/webbench/wheelhouse/{art.wheels.digest}"
    ops = run(inv, "srv1", Remote(), python_stack, art.wheels)
    op = by_title(ops)
    assert list(op) == [
        "Update apt lists",
        "python3-venv",
        "Directory /opt/webbench/wheelhouse",
        "Upload the wheelhouse",
        f"Unpack the wheelhouse into {wheels}",
        "venv /opt/webbench/venv",
        "Pinned Python stack (apps/python-stack.lock)",
    ]
    assert op["python3-venv"].commands == [f"{APT_INSTALL} python3-venv python3-packaging"]
    assert op["venv /opt/webbench/venv"].commands == ["python3 -m venv /opt/webbench/venv"]
    (install,) = op["Pinned Python stack (apps/python-stack.lock)"].commands
    head = f"/opt/webbench/venv/bin/pip install --no-index --find-links {wheels} --no-deps "
    assert install.startswith(head)
    assert sorted(install.removeprefix(head).split()) == sorted(pin.lower() for pin in python_pins())


def test_python_stack_reinstalls_only_a_pin_that_differs(inv, art):
    v = host_data(inv, "srv1")
    remote = provisioned(v, art, ("server",), backend_host=False)
    name, version = python_pins()[0].split("==")
    remote.pip["/opt/webbench/venv/bin/pip"][name] = {"0.0.1"}
    op = by_title(run(inv, "srv1", remote, python_stack, art.wheels))
    assert changed(list(op.values())) == ["Python stack | Pinned Python stack (apps/python-stack.lock)"]
    assert op["Pinned Python stack (apps/python-stack.lock)"].commands == [
        "/opt/webbench/venv/bin/pip install --no-index --find-links "
        f"/opt/webbench/wheelhouse/{art.wheels.digest} --no-deps {name.lower()}=={version}"
    ]


# nginx_fcgi and redis -------------------------------------------------------------------------------


def test_nginx_fcgi_renders_one_site_per_system_and_level_with_its_own_variables(lab):
    inventory = lab(nginx_fcgi_levels=[1, 8])
    sites = systems.nginx_sites(host_data(inventory, "srv1"))
    ops = run(inventory, "srv1", Remote(), nginx_fcgi, sites)
    uploads = {dest: text.decode() for op in ops for dest, text in op.uploads.items()}
    assert sorted(uploads) == sorted(s["dest"] for s in sites)
    assert {dest.rsplit("-", 1)[-1] for dest in uploads} == {"L1.conf", "L8.conf"}
    for s in sites:
        text = uploads[s["dest"]]
        assert f"\npid {s['run_dir']}/nginx.pid;\n" in text
        assert f"listen {s['listen_port']};" in text
        assert all(f"server 127.0.0.1:{port};" in text for port in s["upstream_ports"])
        assert ("fastcgi_pass" in text) == bool(s["fastcgi_socket"])
        assert not s["fastcgi_socket"] or f"fastcgi_pass unix:{s['fastcgi_socket']};" in text
    assert [op.title for op in ops[:3]] == [
        "Update apt lists",
        "nginx, spawn-fcgi",
        "Directory for the nginx sites",
    ]


def test_redis_installs_the_server_and_renders_its_conf(lab):
    ops = run(lab(redis_port=6390), "srv1", Remote(packages={"redis-server"}), redis)
    assert [(op.title, op.changes) for op in ops] == [
        ("redis-server", False),
        ("Render /etc/webbench/redis.conf", True),
    ]
    assert "\nport 6390\n" in ops[1].uploads["/etc/webbench/redis.conf"].decode()


# chroot_jail ------------------------------------------------------------------------------------------


def test_the_jail_removes_exactly_what_is_not_allowed(inv):
    jail = "/srv/webbench/jail"
    remote = Remote()
    for name in ("gin", "go-http"):
        remote.add_file(f"{jail}/{name}/{name}", b"static binary", mode=555)
    remote.add_file(f"{jail}/gin/gin.old", b"previous binary")
    remote.add_file(f"{jail}/bin/sh", b"a shell")
    remote.add_file(f"{jail}/.hidden", b"")
    remote.add_file(f"{jail}/with space", b"")
    remote.add_file(f"{jail}/webgo/webgo", b"a system no longer jailed")
    ops = run(inv, "srv1", remote, chroot_jail, ["gin", "go-http"])
    assert [op.title for op in ops] == [
        "Root-owned /srv/webbench",
        f"Root-owned {jail}",
        f"Remove what does not belong in {jail}",
    ]
    extra = [".hidden", "bin", "bin/sh", "gin/gin.old", "webgo", "webgo/webgo", "with space"]
    assert ops[2].commands == [f"rm -rf -- {shlex.join(f'{jail}/{e}' for e in extra)}"]


def test_a_fresh_or_clean_jail_removes_nothing(inv):
    fresh = run(inv, "srv1", Remote(), chroot_jail, ["gin"])
    assert [op.commands for op in fresh] == [
        ["mkdir -p /srv/webbench", "chmod 755 /srv/webbench", "chown root:root /srv/webbench"],
        ["mkdir -p /srv/webbench/jail", "chmod 755 /srv/webbench/jail", "chown root:root /srv/webbench/jail"],
    ]
    clean = Remote()
    clean.add_file("/srv/webbench/jail/gin/gin", b"static binary", mode=555)
    assert changed(run(inv, "srv1", clean, chroot_jail, ["gin"])) == []


# site: what each host gets, and a second run ------------------------------------------------------


GENERATOR_DEPLOYS = ["Common base", "Go toolchain", "Apps", "Upstream API", "Load generators"]
SERVER_DEPLOYS = ["Common base", "Go toolchain", "Apps", "Python stack", "nginx and spawn-fcgi", "Redis"]
SERVER_DEPLOYS += ["Chroot jail"]


def deploys(ops: list[Op]) -> list[str]:
    return list(dict.fromkeys(op.deploy for op in ops))


def test_site_gives_each_host_the_deploys_of_its_groups(inv, art):
    assert deploys(run(inv, "gen1", Remote(), site, art)) == GENERATOR_DEPLOYS
    assert deploys(run(inv, "srv1", Remote(), site, art)) == SERVER_DEPLOYS
    on_server = Artifacts(**{**art.__dict__, "backend_hosts": ["srv1"], "roles": roles_for(inv, ["srv1"])})
    assert "Upstream API" not in deploys(run(inv, "gen1", Remote(), site, on_server))
    assert "Upstream API" in deploys(run(inv, "srv1", Remote(), site, on_server))


@pytest.mark.parametrize(("name", "expected"), [("gen1", GENERATOR_DEPLOYS), ("srv1", SERVER_DEPLOYS)])
def test_a_second_run_on_a_provisioned_host_changes_nothing(inv, art, name, expected):
    """What `provision --check` reports on a provisioned lab: every operation, no change."""
    remote = provisioned(host_data(inv, name), art, inv.hosts[name].groups, name in art.backend_hosts)
    ops = run(inv, name, remote, site, art)
    assert changed(ops) == []
    # An up-to-date build record adds no operation at all, so the Upstream API shows none.
    assert deploys(ops) == [d for d in expected if d != "Upstream API"]
    titles = [op.title for op in ops]
    assert not any(t.startswith(("Update apt lists", "Upload", "Unpack", "Build", "Remove")) for t in titles)
