"""Every config file comes from templates/ through one strict Jinja2 environment."""

from __future__ import annotations

import jinja2
import pytest
import yaml

from webbench_lab.defaults import python_pins, shared_defaults
from webbench_lab.locallab import topology
from webbench_lab.templating import render


def test_missing_variable_fails_instead_of_rendering_blank():
    with pytest.raises(jinja2.UndefinedError):
        render("host/apt-proxy.conf.j2")


def test_sshd_config_is_key_only():
    text = render(
        "host/sshd_config.j2",
        hostname="server",
        listen_address="198.18.0.3",
        port=22,
        permit_root_login="prohibit-password",
    )
    assert "PasswordAuthentication no" in text
    assert "KbdInteractiveAuthentication no" in text
    assert "AuthenticationMethods publickey" in text
    assert "ListenAddress 198.18.0.3" in text


def test_local_inventory_template_is_a_valid_inventory(monkeypatch):
    monkeypatch.setattr("os.sched_getaffinity", lambda _pid: {0, 1})
    topo = topology.plan()
    text = render("locallab/inventory.yml.j2", topo=topo, key_file="/k", known_hosts="/kh")
    data = yaml.safe_load(text)
    hosts = data["all"]["children"]["server"]["hosts"]
    assert hosts["lab-server"]["lab_bench_address"] == topo.host("server").bench_ip
    assert hosts["lab-server"]["lab_cpus"] == "1"
    assert "StrictHostKeyChecking=yes" in data["all"]["vars"]["ansible_ssh_common_args"]
    assert data["all"]["vars"]["common_apt_proxy"] == topo.apt_proxy


def test_shared_defaults_pin_go_and_the_python_lock():
    d = shared_defaults()
    assert d["go_toolchain_module_version"].startswith(f"v0.0.1-go{d['go_toolchain_version']}.")
    assert d["go_toolchain_h1"].startswith("h1:")
    pins = python_pins()
    assert all("==" in p for p in pins)
    names = {p.split("==")[0].lower() for p in pins}
    for framework in (
        "tornado",
        "web-py",
        "cheroot",
        "gunicorn",
        "gevent",
        "flup",
        "fastapi",
        "uvicorn",
        "flask",
        "redis",
        "httpx",
        "aiohttp",
    ):
        assert framework in names
