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
