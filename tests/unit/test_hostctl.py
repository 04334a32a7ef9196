"""A host lost mid-run is one line naming it, not a traceback."""

from __future__ import annotations

import subprocess
from types import SimpleNamespace

import paramiko
import pytest

from webbench_lab.agent.appctl import cpu_list
from webbench_lab.errors import LabFailure
from webbench_lab.hosts.control import HostControl, as_root, read_answer, with_stdin
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


def test_an_agent_answer_is_the_last_line_of_its_output():
    result = SimpleNamespace(stdout='warning: something\n{"ok": true, "pid": 7}\n', stderr="")
    assert read_answer("srv1", result, "the lab agent") == {"ok": True, "pid": 7}


@pytest.mark.parametrize("stdout", ["", "Traceback ...\nNameError: x\n", "[1, 2]\n"])
def test_no_answer_is_one_line_naming_the_host_and_the_hint(stdout):
    result = SimpleNamespace(stdout=stdout, stderr="python3: not found" if not stdout else "")
    with pytest.raises(LabFailure) as err:
        read_answer("srv1", result, "the lab agent", "was the host provisioned?")
    message = str(err.value)
    assert message.startswith("host srv1: the lab agent did not answer (")
    assert message.endswith("; was the host provisioned?") and "\n" not in message


def test_commands_run_as_root_with_their_input_from_a_file(tmp_path):
    assert as_root("id -u", become=False) == "sh -c 'id -u'"
    assert as_root("id -u", become=True) == "sudo -n sh -c 'id -u'"
    uploaded = tmp_path / "input"  # the uploaded file is removed after the command read it
    uploaded.write_text("lab\n")
    proc = subprocess.run(["sh", "-c", as_root(with_stdin("tr a-z A-Z", str(uploaded)), False)],
                          capture_output=True, text=True)  # fmt: skip
    assert (proc.returncode, proc.stdout) == (0, "LAB\n") and not uploaded.exists()
    uploaded.write_text("")
    failing = subprocess.run(["sh", "-c", as_root(with_stdin("false", str(uploaded)), False)])
    assert failing.returncode == 1 and not uploaded.exists()  # the command's exit code is kept


def test_cpu_lists_as_the_kernel_writes_them():
    assert cpu_list("0-1,3\n") == {0, 1, 3} and cpu_list("2") == {2}
