"""Systems as data: every published row is a folder, bad system files are refused, specs are right."""

from __future__ import annotations

import pytest

from webbench_lab.apps import systems
from webbench_lab.apps.systems import HostPaths, launch_spec, load_system
from webbench_lab.defaults import shared_defaults
from webbench_lab.errors import UserError
from webbench_lab.templating import render

PATHS = HostPaths(
    apps="/opt/webbench/apps/current",
    venv="/opt/webbench/venv",
    jail_root="/srv/webbench/jail",
    build_root="/opt/webbench/build",
    run_root="/var/lib/webbench/run",
    user="webbench",
    nginx_dir=shared_defaults()["nginx_fcgi_config_dir"],
    nginx_levels=tuple(shared_defaults()["nginx_fcgi_levels"]),
    uid=999,
    gid=998,
)
LAB_A = ["Go http", "Twister", "Web.go", "Tornado", "Tornado+nginx", "Web.py+gevent",
         "Web.py+gunicorn", "Web.py+CherryPy", "Web.py+nginx"]  # fmt: skip


def test_every_row_of_both_labs_is_a_system():
    rows = {s.display: s for s in systems.all_systems().values()}
    assert all(row in rows for row in LAB_A)
    lab_b = [s for s in rows.values() if s.lab == "B"]
    assert {s.name for s in lab_b} == {"gin", "fastapi-uvicorn", "fastapi-gunicorn", "flask-gunicorn"}


def test_go_http_runs_chrooted_with_numeric_ids_and_gomaxprocs():
    spec = launch_spec(systems.get("go-http"), 4, PATHS, {})
    (proc,) = spec["processes"]
    assert proc["argv"][:3] == ["chroot", "--userspec=999:998", "/srv/webbench/jail/go-http"]
    assert proc["argv"][3:] == ["/go-http", "-port", "8000"]
    assert proc["env"]["GOMAXPROCS"] == "4"
    assert spec["ports"] == [8000]


def test_standalone_python_runs_n_processes_on_consecutive_ports_as_the_app_user():
    spec = launch_spec(systems.get("tornado"), 2, PATHS, {})
    assert [p["argv"][-1] for p in spec["processes"]] == ["8000", "8001"]
    assert all(p["argv"][:2] == ["setpriv", "--reuid=webbench"] for p in spec["processes"])
    assert systems.get("tornado").load_ports(2) == [8000, 8001]


def test_workers_model_is_one_process_with_n_workers():
    spec = launch_spec(systems.get("fastapi-uvicorn"), 4, PATHS, {})
    (proc,) = spec["processes"]
    assert "--workers" in proc["argv"] and proc["argv"][proc["argv"].index("--workers") + 1] == "4"
    assert systems.get("fastapi-uvicorn").load_ports(4) == [8000]


def _site(name: str, level: int) -> str:
    """The provisioned nginx site of `name` at `level`, rendered as both engines render it."""
    (site,) = [
        s for s in systems.nginx_sites(shared_defaults()) if s["dest"].endswith(f"/{name}-L{level}.conf")
    ]
    return render("server/nginx.conf.j2", **site)


def test_tornado_nginx_renders_lab_a_nginx_settings_with_an_upstream():
    spec = launch_spec(systems.get("tornado-nginx"), 2, PATHS, {})
    conf = _site("tornado-nginx", 2)
    for line in (
        "worker_processes 1;",
        "use epoll;",
        "worker_connections 1024;",
        "keepalive_timeout 65;",
        "tcp_nopush on;",
        "tcp_nodelay on;",
        "access_log off;",
        "listen 8080;",
        "server 127.0.0.1:8000;",
        "server 127.0.0.1:8001;",
        "proxy_pass http://apps;",
    ):
        assert line in conf
    assert spec["ports"] == [8000, 8001, 8080]
    assert spec["processes"][-1]["argv"][5:] == [
        "nginx", "-p", "/var/lib/webbench/run/tornado-nginx/",
        "-e", "/var/lib/webbench/run/tornado-nginx/nginx-error.log",
        "-c", "/etc/webbench/nginx/tornado-nginx-L2.conf",
    ]  # fmt: skip


def test_nginx_sites_cover_every_nginx_system_at_every_provisioned_level():
    dests = sorted(s["dest"].rsplit("/", 1)[1] for s in systems.nginx_sites(shared_defaults()))
    names = ("ceiling", "tornado-nginx", "webpy-nginx")
    assert dests == [f"{n}-L{lv}.conf" for n in names for lv in (1, 2, 4)]
    with pytest.raises(UserError, match="level 3 has no provisioned nginx site"):
        launch_spec(systems.get("webpy-nginx"), 3, PATHS, {})


def test_webpy_nginx_spawns_n_flup_processes_on_a_unix_socket():
    spec = launch_spec(systems.get("webpy-nginx"), 4, PATHS, {})
    spawn = spec["processes"][0]["argv"]
    assert "spawn-fcgi" in spawn and spawn[spawn.index("-F") + 1] == "4"
    conf = _site("webpy-nginx", 4)
    assert "fastcgi_pass unix:/var/lib/webbench/run/webpy-nginx/fcgi.sock;" in conf
    assert "listen 8081;" in conf
    assert spec["unix_sockets"] == ["/var/lib/webbench/run/webpy-nginx/fcgi.sock"]


@pytest.mark.parametrize("level", ["0", "-1", "x", "1.5", ""])
def test_bad_levels(level):
    with pytest.raises(UserError, match="positive integer"):
        systems.check_level(level)


def test_unknown_system():
    with pytest.raises(UserError, match="unknown system 'nope'; known systems: "):
        systems.get("nope")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("display: X\n", "field 'language' is missing"),
        ("display: X\nlanguage: go\nlab: A\nmodel: magic\nport: 1\nstart: x\n", "model 'magic'"),
        ("display: X\nlanguage: go\nlab: A\nmodel: workers\nport: '80'\nstart: x\n", "'port' must be int"),
        (
            "display: X\nlanguage: go\nlab: A\nmodel: workers\nport: 80\nstart: x\ncolour: red\n",
            "unknown field 'colour'",
        ),
        ("display: [\n", "invalid YAML"),
    ],
)
def test_bad_system_files_name_file_and_field(tmp_path, text, message):
    path = tmp_path / "mysys" / "system.yml"
    path.parent.mkdir()
    path.write_text(text)
    with pytest.raises(UserError, match=message) as err:
        load_system(path)
    assert "system.yml" in str(err.value)
