"""`lab down` finds the mounts to remove: its own, and another clone's overlays of the same hosts."""

from webbench_lab.locallab.lab import lab_mounts

MOUNTS = """\
proc /proc proc rw 0 0
overlay / overlay rw,lowerdir=/x 0 0
overlay /work/main/.lab/run/hosts/server/root overlay rw,lowerdir=/work/main/.lab/cache/r 0 0
tmpfs /work/main/.lab/run/hosts/server/root/tmp tmpfs rw 0 0
overlay /tmp/other/.lab/run/hosts/generator/root overlay rw,lowerdir=/tmp/other/.lab/cache/r 0 0
overlay /tmp/other/.lab/run/hosts/server/root overlay rw,lowerdir=/tmp/other/.lab/cache/r 0 0
overlay /srv/run/hosts/mail/root overlay rw,lowerdir=/srv/x 0 0
tmpfs /tmp/other/.lab/run/hosts/server/root/tmp tmpfs rw 0 0
tmpfs /work/main/.lab/running tmpfs rw 0 0
"""


def test_own_mounts_deepest_first_and_another_clones_overlays_of_the_same_hosts():
    got = lab_mounts(MOUNTS, "/work/main/.lab/run", ["generator", "server"])
    assert got == [
        "/work/main/.lab/run/hosts/server/root/tmp",
        "/work/main/.lab/run/hosts/server/root",
        "/tmp/other/.lab/run/hosts/server/root",
        "/tmp/other/.lab/run/hosts/generator/root",
    ]


def test_no_host_names_leaves_other_overlays_alone():
    assert lab_mounts(MOUNTS, "/nowhere/.lab/run", []) == []


def test_each_host_sees_the_shared_go_build_cache_at_the_path_builds_use(tmp_path, monkeypatch):
    from webbench_lab.apps.builds import build_command
    from webbench_lab.defaults import host_vars
    from webbench_lab.locallab import hostinit, hosts

    monkeypatch.setenv("WEBBENCH_LAB_STATE", str(tmp_path / "state"))
    ((src, dest),) = hosts.shared_caches()
    assert src == tmp_path / "state" / "cache" / "go-build" and src.is_dir()
    # The directory Go's build cache is in, for every build on a host (apps and the upstream API).
    cache = host_vars({})["apps_cache_root"]
    assert f"GOCACHE={dest} " in build_command("/src", "/out", cache)

    mounted: list[tuple[str, ...]] = []
    monkeypatch.setattr(hostinit, "_mount", lambda *args: mounted.append(args))
    root = tmp_path / "root"
    hostinit.bind_caches(str(root), f"{src}:{dest},")
    assert mounted == [("--bind", str(src), f"{root}{dest}")]
    assert (root / dest.lstrip("/")).is_dir()
