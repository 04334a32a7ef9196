"""No SSH client of the lab accepts an unknown host key, and SSH failures read as one line."""

from __future__ import annotations

import paramiko

from webbench_lab.hosts.inventory import load_inventory
from webbench_lab.hosts.ssh import ssh_error
from webbench_lab.provision.pyinfra_engine import pyinfra_host_data


def test_pyinfra_host_data_is_strict(write_inventory, ssh_files):
    key, known = ssh_files
    host = load_inventory(write_inventory()).hosts["srv1"]
    data = pyinfra_host_data(host)
    assert data["ssh_strict_host_key_checking"] == "yes"
    assert data["ssh_known_hosts_file"] == str(known)
    assert data["ssh_key"] == str(key)
    assert data["ssh_port"] == 2222
    assert data["ssh_allow_agent"] is False and data["ssh_look_for_keys"] is False
    assert "_sudo" not in data
    assert data["go_toolchain_version"]  # shared defaults merged in


def test_non_root_user_gets_sudo(write_inventory, ssh_files):
    from tests.conftest import valid_inventory

    data = valid_inventory(*ssh_files)
    data["all"]["vars"]["ansible_user"] = "labadmin"
    host = load_inventory(write_inventory(data)).hosts["srv1"]
    assert pyinfra_host_data(host)["_sudo"] is True


def test_fabric_connection_rejects_unknown_keys(write_inventory, monkeypatch):
    from webbench_lab.hosts import ssh as remote

    host = load_inventory(write_inventory()).hosts["srv1"]
    seen = {}

    def fake_open(self):
        seen["policy"] = self.client._policy
        seen["keys"] = self.client._host_keys_filename
        raise OSError(111, "Connection refused")

    monkeypatch.setattr("fabric.Connection.open", fake_open)
    try:
        remote.connect(host)
    except Exception as exc:
        assert "unreachable (Connection refused)" in str(exc)
    assert isinstance(seen["policy"], paramiko.RejectPolicy)
    assert seen["keys"] == str(host.known_hosts)


def test_error_lines(write_inventory):
    host = load_inventory(write_inventory()).hosts["srv1"]
    key = paramiko.Ed25519Key.generate() if hasattr(paramiko.Ed25519Key, "generate") else None
    if key is not None:
        bad = ssh_error(host, paramiko.BadHostKeyException("198.18.0.3", key, key))
        assert "does not match" in str(bad) and "ssh-keygen -R" in str(bad)
    unknown = ssh_error(host, paramiko.SSHException("Server '[198.18.0.3]:2222' not found in known_hosts"))
    assert "is not in" in str(unknown)
    timeout = ssh_error(host, TimeoutError("timed out"))
    assert "no answer within 15 s" in str(timeout)
    assert "srv1" in str(timeout) and "198.18.0.3:2222" in str(timeout)
