"""A host lost mid-run is one line naming it, not a traceback."""

from __future__ import annotations

import paramiko
import pytest

from webbench_lab.errors import LabFailure
from webbench_lab.hosts.control import HostControl
from webbench_lab.hosts.inventory import load_inventory


class LostConnection:
    def run(self, *args, **kwargs):
        raise paramiko.SSHException("Socket is closed")

    def put(self, *args, **kwargs):
        raise OSError("Socket is closed")


@pytest.mark.parametrize("stdin", [None, "payload"])
def test_lost_connection_names_the_host(write_inventory, stdin):
    host = load_inventory(write_inventory()).hosts["srv1"]
    hc = HostControl.__new__(HostControl)
    hc.host, hc.vars, hc.conn = host, {}, LostConnection()
    with pytest.raises(LabFailure, match=r"host srv1 \(root@198.18.0.3:2222\): connection lost"):
        hc.sh("true", stdin=stdin)
