"""The upstream API of Lab B (role backend): built from apps/backend once per apps release."""

from __future__ import annotations

import hashlib
import shlex
from typing import Any

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.facts.files import Sha1File
from pyinfra.operations import server

from webbench_lab.provision.artifacts import Bundle

NAME = "backend"


@deploy("Upstream API")
def backend(sources: Bundle) -> None:
    plan = build_plan(host.data, sources.digest)
    if host.get_fact(Sha1File, path=plan["record_path"]) != hashlib.sha1(plan["record"].encode()).hexdigest():
        server.shell(name=f"Build {NAME} (go build)", commands=plan["commands"])


def build_plan(v: Any, release: str) -> dict[str, Any]:
    """The commands that build the API and leave the record `app build` reads (both engines run
    them); `v`: pyinfra host data or a vars dict."""
    from webbench_lab.apps.builds import BuildResult, build_command, result_record

    out_dir = f"{v.get('apps_build_root')}/{NAME}"
    binary = f"{out_dir}/{NAME}"
    record = result_record(release, BuildResult(NAME, True, "", binary))
    src = f"{v.get('apps_root')}/current/{NAME}"
    return {
        "record": record,
        "record_path": f"{out_dir}/result.json",
        "commands": [
            f"mkdir -p {out_dir}",
            build_command(src, f"{binary}.new", v.get("apps_cache_root")),
            f"mv {binary}.new {binary}",
            f"printf '%s' {shlex.quote(record)} > {out_dir}/result.json",
        ],
    }
