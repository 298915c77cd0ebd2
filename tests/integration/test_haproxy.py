"""HAProxy's active HTTP check on the node tier (docs/recipes/files/haproxy.cfg), with a real HAProxy.

The node tier fails the realistic way our design adds: the poller stops (here: frozen with SIGSTOP),
its snapshots go stale, the endpoint answers 500, and HAProxy takes the server out after ``fall``
failed checks; when the poller resumes, the server comes back after ``rise`` good checks.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.integration.conftest import ExampleSite, haproxy_stat, render, require_binary
from tests.support import free_port, http_get, port_open, try_get, wait_for

pytestmark = pytest.mark.slow

INTER = 0.5  # seconds between checks in the test (30 s in the recipe)
FALL = 3


def server_row(sock: Path) -> dict[str, str]:
    return next(row for row in haproxy_stat(sock) if row["pxname"] == "myapp" and row["svname"] == "app1")


def start_haproxy(site: ExampleSite, tmp_path: Path, start_service) -> tuple[int, Path]:
    binary = require_binary("haproxy")
    port = free_port()
    sock = tmp_path / "haproxy.sock"
    config = render(
        "haproxy.cfg",
        {
            "/run/haproxy/admin.sock": str(sock),
            "bind :80": f"bind 127.0.0.1:{port}",
            "server app1 127.0.0.1:8000 check inter 30s fall 3 rise 2": (
                f"server app1 {site.address} check inter {int(INTER * 1000)}ms fall {FALL} rise 2"
            ),
        },
    )
    path = tmp_path / "haproxy.cfg"
    path.write_text(config)
    env = {"PATH": "/usr/sbin:/usr/bin:/bin", "HEALTH_CHECK_SECRET": site.secret}
    haproxy = start_service("haproxy", [binary, "-db", "-f", str(path)], env=env)

    def ready() -> bool:
        haproxy.assert_running()
        return port_open("127.0.0.1", port) and sock.exists()

    wait_for(ready, timeout=10, what="HAProxy listening")
    return port, sock


def test_haproxy__server_up_down_up_with_the_node_tier(sidecar_site: ExampleSite, tmp_path, start_service):
    """The recipe's server is UP while the node tier is healthy, DOWN within `fall` checks once it fails, UP again."""
    port, sock = start_haproxy(sidecar_site, tmp_path, start_service)
    front = f"http://127.0.0.1:{port}/"

    wait_for(lambda: server_row(sock)["status"] == "UP", timeout=30, what="HAProxy marking app1 UP")
    response = http_get(front)
    assert (response.status, response.body) == (200, "django-health-snapshot example project\n")

    downs = int(server_row(sock)["chkdown"])
    sidecar_site.pause_poller()
    stale = sidecar_site.wait_node(500, timeout=30)
    failing_since = time.monotonic()
    assert "Unavailable: stale, last result is" in stale.body
    # Still in rotation when the endpoint starts failing: one failed check is not enough ("UP 1/3").
    assert server_row(sock)["status"].startswith("UP")
    down = wait_for(lambda: (row := server_row(sock))["status"] == "DOWN" and row, timeout=30, what="app1 DOWN")
    took = time.monotonic() - failing_since
    # `fall` checks at `inter` apart, plus one interval of phase and generous slack for a busy machine.
    assert took < (FALL + 1) * INTER + 5, f"HAProxy took {took:.1f} s to mark app1 DOWN"
    assert (down["check_status"], down["check_code"]) == ("L7STS", "500")
    assert int(down["chkdown"]) == downs + 1  # one UP -> DOWN transition
    response = http_get(front)
    assert response.status == 503  # HAProxy: no server is available to handle this request

    sidecar_site.resume_poller()
    sidecar_site.wait_node(200, timeout=30)
    wait_for(lambda: server_row(sock)["status"] == "UP", timeout=30, what="HAProxy marking app1 UP again")
    response = wait_for(lambda: (r := try_get(front)) and r.status == 200 and r, timeout=10, what="traffic again")
    assert response.body == "django-health-snapshot example project\n"
