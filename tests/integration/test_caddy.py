"""Caddy's active health checks on the node tier (docs/recipes/files/Caddyfile), with a real Caddy.

Seen from a client of the proxy: pages come through while the node tier answers 200, Caddy answers
503 once its only upstream is unhealthy (poller frozen, snapshots stale), and pages come back.
"""

from __future__ import annotations

import pytest

from tests.integration.conftest import ExampleSite, render, require_binary
from tests.support import free_port, try_get, wait_for

pytestmark = pytest.mark.slow

PAGE = "django-health-snapshot example project\n"

# Test-only global options: no admin endpoint on :2019, plain HTTP on the loopback site.
GLOBAL_OPTIONS = "{\n\tadmin off\n\tauto_https off\n}\n\n"


def test_caddy__requests_pass_then_503_then_pass_with_the_node_tier(sidecar_site: ExampleSite, tmp_path, start_service):
    """Requests through the recipe's site succeed, get 503 while the only upstream's node tier fails, then succeed."""
    binary = require_binary("caddy")
    port = free_port()
    config = render(
        "Caddyfile",
        {
            "example.com {": f"http://127.0.0.1:{port} {{",
            "reverse_proxy 127.0.0.1:8000 {": f"reverse_proxy {sidecar_site.address} {{",
            "health_interval 30s": "health_interval 300ms",
            "health_timeout 5s": "health_timeout 1s",
        },
        prepend=GLOBAL_OPTIONS,
    )
    path = tmp_path / "Caddyfile"
    path.write_text(config)
    home = tmp_path / "caddy-home"
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_CONFIG_HOME": str(home / "config"),
        "HEALTH_CHECK_SECRET": sidecar_site.secret,
    }
    caddy = start_service("caddy", [binary, "run", "--config", str(path), "--adapter", "caddyfile"], env=env)
    front = f"http://127.0.0.1:{port}/"

    def status() -> int | None:
        caddy.assert_running()
        response = try_get(front)
        return response.status if response else None

    wait_for(lambda: status() == 200, timeout=30, what="Caddy serving the example")
    response = try_get(front)
    assert response is not None and (response.status, response.body) == (200, PAGE)

    sidecar_site.pause_poller()
    sidecar_site.wait_node(500, timeout=30)
    wait_for(lambda: status() == 503, timeout=15, what="Caddy answering 503 with its only upstream unhealthy")

    sidecar_site.resume_poller()
    sidecar_site.wait_node(200, timeout=30)
    wait_for(lambda: status() == 200, timeout=15, what="Caddy serving the example again")
    response = try_get(front)
    assert response is not None and (response.status, response.body) == (200, PAGE)
