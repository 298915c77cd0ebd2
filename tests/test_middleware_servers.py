"""HealthCheckMiddleware under gunicorn (WSGI) and uvicorn (ASGI), asked over a real socket as a kubelet asks.

The site admits one host (``status.example.com``) and redirects plain HTTP (tests/testapp/settings_hosts.py);
requests carry the Host header a probe sends: the pod's IP, or whatever a client forges.
"""

from __future__ import annotations

from collections.abc import Iterator

import feedparser
import pytest

from health_check.journal import append_transitions, changes
from health_check.store.diskcache import DiskcacheStore
from tests.conftest import make_snapshot
from tests.scenarios import NAMES, REFUSED, SPECS, expected_text, write_scenario
from tests.support import Response, Server, http_request, start_server

pytestmark = pytest.mark.slow

SERVERS = {"gunicorn": "tests.testapp.wsgi:application", "uvicorn": "tests.testapp.asgi:application"}
SITE = "status.example.com"
POD_IP = "10.1.2.3"
PROBE = {"User-Agent": "kube-probe/1.31", "Accept": "*/*"}  # what the kubelet sends besides Host


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Iterator[DiskcacheStore]:
    location = tmp_path_factory.mktemp("hosts-store")
    store = DiskcacheStore(str(location))
    try:
        yield store
    finally:
        store.close()


@pytest.fixture(scope="module", params=sorted(SERVERS))
def server(request, store) -> Iterator[Server]:
    env = {"DJANGO_SETTINGS_MODULE": "tests.testapp.settings_hosts", "HEALTH_SNAPSHOT_STORE_DIR": store.location}
    process = start_server(request.param, SERVERS[request.param], env)
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture(autouse=True)
def fresh(store) -> None:
    """Fresh snapshots before each test, so the endpoint is healthy however long the module runs."""
    write_scenario(store, "fresh")


def get(server: Server, target: str, host: str, **headers: str) -> Response:
    response = http_request(server.port, target, headers={**PROBE, "Host": host, **headers})
    assert response.status < 500, (target, response, server.log_tail())
    return response


def test_servers__probe_by_pod_ip(server):
    """A Host outside ALLOWED_HOSTS: 200 with the readings and their length on the endpoint, 400 anywhere else."""
    probe = get(server, "/health/?format=text", POD_IP)
    assert (probe.status, probe.body) == (200, expected_text("fresh"))
    assert int(probe.headers["Content-Length"]) == len(probe.body.encode())
    for target in ["/page/", "/health/node/page/", "/nowhere/"]:
        assert get(server, target, POD_IP).status == 400, target


def test_servers__plain_http_probe_not_redirected(server):
    """SECURE_SSL_REDIRECT: the probe over plain HTTP gets its answer, the site's page a 301 to HTTPS."""
    for host in (SITE, POD_IP):
        probe = get(server, "/health/?format=text", host)
        assert (probe.status, probe.body) == (200, expected_text("fresh"))
        assert probe.headers["X-Content-Type-Options"] == "nosniff"
    page = get(server, "/page/", SITE)
    assert (page.status, page.headers["Location"]) == (301, f"https://{SITE}/page/")


def test_servers__forged_host_cannot_poison_the_feed(server, store):
    """A feed asked with a forged Host links to nothing of it, and the next reader gets the site's own links."""
    snapshot = make_snapshot(SPECS["beta"].key, status="error", message=REFUSED)
    append_transitions(store, changes(None, snapshot, NAMES["beta"], stale_intervals=3), retention=10)
    forged = get(server, "/health/?format=atom", "evil.example")
    assert forged.status == 200
    assert "evil.example" not in forged.body
    real = get(server, "/health/?format=atom", SITE)
    assert real.status == 200
    assert "evil.example" not in real.body
    feed = feedparser.parse(real.body)
    assert {link.href for link in feed.feed.links} == {f"http://{SITE}/health/", f"http://{SITE}/health/?format=atom"}
    assert [entry.link for entry in feed.entries][:1] == [f"http://{SITE}/health/"]
