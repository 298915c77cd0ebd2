"""Open-source nginx (docs/recipes/files/nginx.conf): passive failover, and the node tier for a checker.

The cookbook's ``health_check`` directive is NGINX Plus only; open-source nginx rejects it. The recipe
instead shows what open-source nginx does: skip a server whose requests fail (``max_fails`` /
``fail_timeout``), and pass this host's node tier through unchanged to an external checker.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.integration.conftest import ExampleSite, render, require_binary
from tests.support import free_port, http_get, port_open, wait_for

pytestmark = pytest.mark.slow

PAGE = "django-health-snapshot example project\n"


def start_nginx(site: ExampleSite, tmp_path: Path, start_service, *, dead_port: int) -> tuple[int, Path]:
    """Run the recipe inside a minimal main configuration whose files all live under ``tmp_path``."""
    binary = require_binary("nginx")
    port = free_port()
    recipe = render(
        "nginx.conf",
        {
            "server 127.0.0.1:8000 max_fails=3 fail_timeout=10s;": (
                f"server {site.address} max_fails=3 fail_timeout=10s;"
            ),
            # A second app server that is down: nothing listens on its port.
            "# server 10.0.0.2:8000 max_fails=3 fail_timeout=10s;": (
                f"server 127.0.0.1:{dead_port} max_fails=3 fail_timeout=10s;"
            ),
            "listen 80;": f"listen 127.0.0.1:{port};",
            "proxy_pass http://127.0.0.1:8000;": f"proxy_pass http://{site.address};",
        },
    )
    (tmp_path / "myapp.conf").write_text(recipe)
    temp = "\n".join(
        f"    {kind}_temp_path {tmp_path / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    main = f"""
error_log {tmp_path / "error.log"} warn;
pid {tmp_path / "nginx.pid"};
worker_processes 2;
events {{}}
http {{
    log_format upstreams '$status $upstream_addr';
    access_log {tmp_path / "access.log"} upstreams;
{temp}
    include {tmp_path / "myapp.conf"};
}}
"""
    config = tmp_path / "nginx-main.conf"
    config.write_text(main)
    test = subprocess.run([binary, "-t", "-p", str(tmp_path), "-c", str(config)], capture_output=True, text=True)
    assert test.returncode == 0, f"nginx rejects the recipe:\n{test.stderr}"
    nginx = start_service("nginx", [binary, "-p", str(tmp_path), "-c", str(config), "-g", "daemon off;"])

    def ready() -> bool:
        nginx.assert_running()
        return port_open("127.0.0.1", port)

    wait_for(ready, timeout=10, what="nginx listening")
    return port, tmp_path / "access.log"


def test_nginx__health_check_directive_is_rejected_by_open_source_nginx(tmp_path):
    """The cookbook's `health_check` line makes open-source nginx refuse to start: it is NGINX Plus only."""
    binary = require_binary("nginx")
    config = tmp_path / "plus.conf"
    config.write_text(
        f"error_log {tmp_path / 'error.log'};\npid {tmp_path / 'nginx.pid'};\nevents {{}}\nhttp {{\n"
        "    upstream myapp {\n        server 127.0.0.1:8000;\n"
        "        health_check interval=30s timeout=5s uri=/health/dev/node/;\n    }\n}\n"
    )
    result = subprocess.run([binary, "-t", "-p", str(tmp_path), "-c", str(config)], capture_output=True, text=True)
    assert result.returncode == 1
    assert 'unknown directive "health_check"' in result.stderr


def test_nginx__passive_checks_skip_a_dead_server(sidecar_site: ExampleSite, tmp_path, start_service):
    """Every page comes through; the dead server is tried `max_fails` (3) times, then skipped for `fail_timeout`."""
    dead = free_port()
    port, access_log = start_nginx(sidecar_site, tmp_path, start_service, dead_port=dead)

    responses = [http_get(f"http://127.0.0.1:{port}/") for _ in range(12)]

    assert [(r.status, r.body) for r in responses] == [(200, PAGE)] * 12
    lines = wait_for(
        lambda: (text := access_log.read_text().splitlines()) and len(text) == 12 and text,
        timeout=5,
        what="12 access log lines",
    )
    tried_dead = [line for line in lines if f"127.0.0.1:{dead}" in line]
    assert len(tried_dead) == 3, "\n".join(lines)
    assert all(line.endswith(f"127.0.0.1:{dead}, {sidecar_site.address}") for line in tried_dead), "\n".join(lines)


def test_nginx__health_location_passes_the_node_tier_through(sidecar_site: ExampleSite, tmp_path, start_service):
    """Through nginx the node tier answers exactly what gunicorn answers: 200, then 500 when stale, then 200."""
    port, _ = start_nginx(sidecar_site, tmp_path, start_service, dead_port=free_port())
    url = f"http://127.0.0.1:{port}{sidecar_site.node_path}"
    accept = {"Accept": "text/plain"}

    healthy = http_get(url, headers=accept)
    assert (healthy.status, healthy.body) == (200, sidecar_site.node().body)

    sidecar_site.pause_poller()
    sidecar_site.wait_node(500, timeout=30)
    failing = http_get(url, headers=accept)
    assert failing.status == 500
    assert "Unavailable: stale, last result is" in failing.body, failing.body

    sidecar_site.resume_poller()
    sidecar_site.wait_node(200, timeout=30)
    assert http_get(url, headers=accept).status == 200
