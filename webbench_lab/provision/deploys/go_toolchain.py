"""The pinned Go toolchain: the golang.org/toolchain module zip, unpacked once per version."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.facts.files import File
from pyinfra.operations import files, server

from webbench_lab.provision.artifacts import GoToolchain
from webbench_lab.provision.deploys._ops import put_template, root_directory


@deploy("Go toolchain")
def go_toolchain(toolchain: GoToolchain) -> None:
    root = host.data.get("go_toolchain_root")
    goroot = f"{root}/{toolchain.version}"
    root_directory(f"Directory {root}", root)
    if not host.get_fact(File, path=f"{goroot}/bin/go"):
        upload = f"{root}/.{toolchain.module_version}.zip"
        files.put(
            name=f"Upload go{toolchain.version} module zip",
            src=str(toolchain.zip_path),
            dest=upload,
            mode="600",
        )
        prefix = f"golang.org/toolchain@{toolchain.module_version}"
        server.shell(
            name=f"Unpack go{toolchain.version} into {goroot}",
            commands=[
                f"rm -rf {goroot} {root}/.unpack && mkdir -p {root}/.unpack",
                f"python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])'"
                f" {upload} {root}/.unpack",
                # Module zips carry no file modes; Go's own toolchain switch marks these executable.
                f"chmod -R u=rwX,go=rX {root}/.unpack && chmod 755 '{root}/.unpack/{prefix}/bin/'*"
                f" '{root}/.unpack/{prefix}/pkg/tool/'*/*",
                f"mv '{root}/.unpack/{prefix}' {goroot} && rm -rf {root}/.unpack {upload}",
            ],
        )
    put_template("server/go.env.j2", f"{goroot}/go.env")
    for tool in ("go", "gofmt"):
        files.link(
            name=f"/usr/local/bin/{tool} -> go{toolchain.version}",
            path=f"/usr/local/bin/{tool}",
            target=f"{goroot}/bin/{tool}",
        )
