"""The systems under test on every lab host: their sources, the Go modules, the process agent."""

from __future__ import annotations

import hashlib
import shlex
from pathlib import Path

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.facts.files import Sha1File
from pyinfra.operations import files, server

from webbench_lab.artifacts import Bundle
from webbench_lab.deploys._ops import unpack_bundle

AGENT = Path(__file__).resolve().parent.parent / "agent" / "appctl.py"


@deploy("Apps")
def apps(sources: Bundle, goproxy: Bundle) -> None:
    root = host.data.get("apps_root")
    unpack_bundle("apps sources", sources, f"{root}/releases", f"{root}/current")
    goproxy_url = host.data.get("go_toolchain_goproxy")
    unpack_bundle(
        "Go modules", goproxy, "/opt/webbench/goproxy-releases", goproxy_url.removeprefix("file://")
    )
    agent = host.data.get("apps_agent")
    files.directory(name="Directory for the agent", path=agent.rsplit("/", 1)[0], mode="755")
    files.put(name="appctl agent", src=str(AGENT), dest=agent, user="root", group="root", mode="755")
    for path in (host.data.get("apps_build_root"), host.data.get("apps_cache_root")):
        files.directory(name=f"Directory {path}", path=path, user="root", group="root", mode="755")
    user = host.data.get("common_app_user")
    files.directory(
        name="Run directory of the apps",
        path=host.data.get("apps_run_root"),
        user=user,
        group=user,
        mode="755",
    )


@deploy("Go programs of the lab")
def go_programs(sources: Bundle, names: list[str]) -> None:
    """Build lab programs of apps/ on this host once per apps release (the upstream API, k6)."""
    for name in names:
        _go_program(sources, name)


def _go_program(sources: Bundle, name: str) -> None:
    from webbench_lab.builds import BuildResult, build_command, result_record

    out_dir = f"{host.data.get('apps_build_root')}/{name}"
    binary = f"{out_dir}/{name}"
    record = result_record(sources.digest, BuildResult(name, True, "", binary))
    if host.get_fact(Sha1File, path=f"{out_dir}/result.json") != hashlib.sha1(record.encode()).hexdigest():
        src = f"{host.data.get('apps_root')}/current/{name}"
        server.shell(
            name=f"Build {name} (go build)",
            commands=[
                f"mkdir -p {out_dir}",
                build_command(src, f"{binary}.new", host.data.get("apps_cache_root")),
                f"mv {binary}.new {binary}",
                f"printf '%s' {shlex.quote(record)} > {out_dir}/result.json",
            ],
        )
