"""The systems under test on every lab host (role apps): their sources, the Go modules, the agent."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.operations import files

from webbench_lab.paths import AGENT
from webbench_lab.provision.artifacts import Bundle
from webbench_lab.provision.deploys._ops import root_directory, unpack_bundle


@deploy("Apps")
def apps(sources: Bundle, goproxy: Bundle) -> None:
    root = host.data.get("apps_root")
    unpack_bundle("apps sources", sources, f"{root}/releases", f"{root}/current")
    goproxy_url = host.data.get("go_toolchain_goproxy")
    unpack_bundle(
        "Go modules", goproxy, host.data.get("apps_goproxy_releases"), goproxy_url.removeprefix("file://")
    )
    agent = host.data.get("apps_agent")
    files.directory(name="Directory for the agent", path=agent.rsplit("/", 1)[0], mode="755")
    files.put(name="appctl agent", src=str(AGENT), dest=agent, user="root", group="root", mode="755")
    for path in (host.data.get("apps_build_root"), host.data.get("apps_cache_root")):
        root_directory(f"Directory {path}", path)
    user = host.data.get("common_app_user")
    files.directory(
        name="Run directory of the apps",
        path=host.data.get("apps_run_root"),
        user=user,
        group=user,
        mode="755",
    )
