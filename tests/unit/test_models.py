"""Process models: each kind of system owns its ports, its processes and the CPUs a level asks for."""

from __future__ import annotations

import pytest

from webbench_lab.apps import systems
from webbench_lab.apps.models import MODELS, NGINX_WORKERS, NginxFronted, ProcessModel


def test_every_system_names_a_registered_model():
    for system in systems.all_systems().values():
        assert isinstance(system.process_model, ProcessModel)
        assert system.process_model.name == system.model
    assert set(MODELS) == {
        "goroutines", "processes", "workers", "nginx-proxy", "nginx-fastcgi", "nginx-static"
    }  # fmt: skip


@pytest.mark.parametrize(
    ("name", "level", "load", "processes", "cpus"),
    [
        ("go-http", 4, [8000], [8000], 4),  # one process, GOMAXPROCS=4
        ("tornado", 2, [8000, 8001], [8000, 8001], 2),  # Lab A: the load split over N ports
        ("webpy-gunicorn", 4, [8000], [8000], 4),  # N workers behind one port
        ("tornado-nginx", 2, [8080], [8000, 8001], 2 + NGINX_WORKERS),  # nginx's worker too
        ("webpy-nginx", 4, [8081], [], 4 + NGINX_WORKERS),  # FastCGI over a unix socket
    ],
)
def test_ports_and_cpus_of_each_model(name, level, load, processes, cpus):
    system = systems.get(name)
    assert system.load_ports(level) == load and system.process_ports(level) == processes
    assert system.process_model.cpus_asked(level) == cpus


def test_only_fronted_models_keep_nginx_logs_and_have_a_site():
    for model in MODELS.values():
        logs = model.log_files("/run/x")
        assert logs[0] == "/run/x/app.log"
        assert ("/run/x/nginx-error.log" in logs) == isinstance(model, NginxFronted) == model.fronted
    proxy = systems.get("tornado-nginx")
    site = proxy.process_model.site(proxy, 2, "/run/t")
    assert site == {
        "upstream_ports": [8000, 8001], "fastcgi_socket": None, "static_root": None, "static_types": {}
    }  # fmt: skip
    fcgi = systems.get("webpy-nginx")
    assert fcgi.process_model.site(fcgi, 1, "/run/w")["fastcgi_socket"] == "/run/w/fcgi.sock"
