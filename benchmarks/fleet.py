"""A fleet of 50 simulated hosts on one Redis: upstream load, Redis operations per probe, probe latency.

Each host is a set of threads with its own identity (``host_id``), its own ``RedisStore`` and the same
elections as ``health_check_poller``: a per-host file lock for its host-scoped check, the fleet lease for
the upstream status page (a local fake Statuspage that counts requests). The script starts its own
``redis-server`` on a free port, so ``INFO commandstats`` counts only what the fleet does.

Reports:
- upstream requests per poll interval for the whole fleet (target: 1);
- Redis commands per probe, each host probing 10 times a second: with the default 1 s read cache, and
  without it (target: at most 1 round trip);
- probe latency of a 3-check node endpoint (the endpoint callable with a RequestFactory request, no
  middleware), Redis store against diskcache.

    python benchmarks/fleet.py [--hosts 50] [--seconds 10] [--interval 1.0]
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import http.server
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
WORK_DIR = Path(tempfile.mkdtemp(prefix="hs-fleet-bench-"))
# The upstream fixtures kept in the repository (tests/fixtures/upstream/README.md).
FIXTURES = ROOT / "tests" / "fixtures" / "upstream"
SUMMARY = FIXTURES / "statuspage" / "summary.all-operational.json"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class CountingUpstream:
    """A Statuspage fake on loopback that counts the requests it answers."""

    def __init__(self) -> None:
        body = (
            SUMMARY.read_bytes()
            if SUMMARY.exists()
            else b'{"page":{"name":"x"},"status":{"indicator":"none","description":"ok"},"components":[],"incidents":[],"scheduled_maintenances":[]}'
        )
        self.count = 0
        upstream = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                upstream.count += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def start_redis() -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(WORK_DIR),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process, f"redis://127.0.0.1:{port}/0"
        except OSError:
            time.sleep(0.05)
    raise SystemExit("redis-server did not start")


def configure_django(store: str) -> None:
    import django
    from django.conf import settings

    settings.configure(
        DEBUG=False,
        SECRET_KEY="bench",
        ALLOWED_HOSTS=["*"],
        USE_TZ=True,
        INSTALLED_APPS=["health_check"],
        ROOT_URLCONF=__name__,
        DATABASES={},
        HEALTH_CHECK={
            "STORE": store,
            "STORE_LOCATION": str(WORK_DIR / "disk"),
            "HOST_ID": "host-0",
            "POLLER_AUTOSTART": False,
        },
    )
    django.setup()


urlpatterns: list = []


def commands(client) -> dict[str, int]:
    stats = client.info("commandstats")
    return {name.removeprefix("cmdstat_"): value["calls"] for name, value in stats.items() if name != "cmdstat_info"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hosts", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--interval", type=float, default=1.0)
    options = parser.parse_args()

    redis_process, url = start_redis()
    upstream = CountingUpstream()
    configure_django(url)
    import logging

    logging.disable(logging.WARNING)

    from health_check.base import HealthCheck
    from health_check.contrib.atlassian import AtlassianStatusPage
    from health_check.recorder import store_runner
    from health_check.specs import resolve_entries
    from health_check.store.redis import RedisStore
    from scheduler.election import Election
    from scheduler.poller import Poller

    @dataclasses.dataclass
    class Node(HealthCheck):
        def run(self) -> None:
            pass

    interval = datetime.timedelta(seconds=options.interval)
    entries = [
        (Node, {"poll_interval": interval}),
        (AtlassianStatusPage, {"base_url": upstream.url, "poll_interval": interval}),
    ]
    hosts = []
    for index in range(options.hosts):
        store = RedisStore(url, location=str(WORK_DIR / f"host-{index}"), host_id=f"host-{index}", lease_seconds=10)
        specs, _ = resolve_entries(entries, host=store.host_id)
        host_specs = [spec for spec in specs if spec.scope == "host"]
        fleet_specs = [spec for spec in specs if spec.scope == "fleet"]
        lease = store.lock("poller-fleet")

        def factory(chosen, gate=None, store=store):
            return lambda: Poller(chosen, store_runner(store), threads=2, gate=gate)

        elections = [
            Election(store.host_lock("poller"), factory(host_specs), retry=1.0),
            Election(lease, factory(fleet_specs, gate=lambda lease=lease: lease.held), retry=1.0),
        ]
        for election in elections:
            election.start()
        hosts.append((store, [spec.key for spec in specs], elections))

    print(f"{options.hosts} hosts, poll interval {options.interval:g} s, one fake Statuspage upstream")
    time.sleep(3)  # first rounds, election settled
    before = upstream.count
    time.sleep(options.seconds)
    polled = upstream.count - before
    leaders = sum(1 for _, _, elections in hosts if elections[1].leading)
    print(
        f"upstream requests per interval (fleet-wide): {polled / (options.seconds / options.interval):.2f}  "
        f"(target 1; {polled} in {options.seconds:g} s; fleet leaders: {leaders})"
    )

    admin = hosts[0][0].client
    # Probes: every host 10 times a second, as a few load balancer health checks would.
    for label, cache_seconds in (("default 1 s read cache", 1.0), ("read cache off", 0.0)):
        for store, _, _ in hosts:
            store.read_cache_seconds = cache_seconds
        probes = 0
        started_counts = commands(admin)
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            tick = time.monotonic()
            for store, keys, _ in hosts:
                store.read(keys)
                probes += 1
            time.sleep(max(0.0, 0.1 - (time.monotonic() - tick)))
        ended = commands(admin)
        reads = ended.get("mget", 0) - started_counts.get("mget", 0)
        print(
            f"Redis read commands per probe ({label}): {reads / probes:.3f}  ({reads} MGET for {probes} probes; "
            "pollers' writes and lease renewals not counted)"
        )
    total = commands(admin)
    print(
        "fleet's Redis commands over the run: " + ", ".join(f"{name} {calls}" for name, calls in sorted(total.items()))
    )

    for _, _, elections in hosts:
        for election in elections:
            election.stop()

    # Probe latency through Django: a 3-check node endpoint, Redis store (host-0) against diskcache.
    from django.test import RequestFactory

    import health_check.store as store_module
    from health_check.store import build_store
    from health_check.views import HealthCheckView

    node_entries = [
        (Node, {"poll_interval": datetime.timedelta(hours=1)}),
        ("health_check.contrib.psutil.Memory", {"poll_interval": datetime.timedelta(hours=1)}),
        ("health_check.contrib.psutil.Disk", {"poll_interval": datetime.timedelta(hours=1)}),
    ]
    request = RequestFactory().get("/health/node/", HTTP_ACCEPT="application/json")
    results = {}
    for name, built in (
        ("diskcache", build_store("diskcache", str(WORK_DIR / "disk"))),
        ("redis", RedisStore(url, location=str(WORK_DIR / "lat"), host_id="host-0")),
    ):
        store_module._store = built
        endpoint = HealthCheckView.as_view(checks=node_entries)
        specs, _ = endpoint.view.get_check_specs()
        runner = store_runner(built)
        for spec in specs:
            runner.run(spec)
        for _ in range(200):
            endpoint(request)
        rounds = []
        for _ in range(5):
            started = time.perf_counter()
            for _ in range(2000):
                response = endpoint(request)
            rounds.append((time.perf_counter() - started) / 2000 * 1e6)
        assert response.status_code in (200, 500), response.status_code
        results[name] = statistics.median(rounds)
        if name == "redis":
            built.read_cache_seconds = 0
            rounds = []
            for _ in range(3):
                started = time.perf_counter()
                for _ in range(1000):
                    endpoint(request)
                rounds.append((time.perf_counter() - started) / 1000 * 1e6)
            results["redis, read cache off (1 MGET each)"] = statistics.median(rounds)
    for name, micros in results.items():
        print(f"node probe latency, {name}: {micros:.0f} µs  ({micros / results['diskcache']:.2f}x diskcache)")

    redis_process.terminate()
    redis_process.wait(timeout=10)
    shutil.rmtree(WORK_DIR, ignore_errors=True)
    os._exit(0)  # pollers' daemon threads may still be inside a run


if __name__ == "__main__":
    main()
