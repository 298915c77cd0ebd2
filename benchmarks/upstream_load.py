"""Upstream politeness under load: provider requests follow polls, not endpoint traffic.

Starts a fake provider on 127.0.0.1 that counts requests (a Statuspage summary and an AWS feed),
a pipeline endpoint with GitHub and AWS checks pointed at it, served by Django's ``WSGIHandler`` in
a threaded WSGI server, and the real poller writing to the memory store. Concurrent clients hammer
the endpoint for the whole run; at the end the script prints requests to the provider, polls and
endpoint requests. Provider requests must equal polls (about duration / interval per check).

    python benchmarks/upstream_load.py [--seconds 60] [--clients 16] [--interval 5]
"""

from __future__ import annotations

import argparse
import datetime
import http.client
import http.server
import socketserver
import sys
import threading
import time
from pathlib import Path
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

ROOT = Path(__file__).resolve().parent.parent
# The upstream fixtures kept in the repository (tests/fixtures/upstream/README.md).
FIXTURES = ROOT / "tests" / "fixtures" / "upstream"
urlpatterns: list = []


class FakeProvider:
    """Serves one summary and one feed, counting requests per path."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.guard = threading.Lock()
        bodies = {
            "/api/v2/summary.json": (FIXTURES / "statuspage/summary.all-operational.json").read_bytes(),
            "/rss/s3-eu-west-1.rss": (FIXTURES / "aws/s3-eu-west-1.resolved-only.rss").read_bytes(),
        }
        provider = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                with provider.guard:
                    provider.counts[self.path] = provider.counts.get(self.path, 0) + 1
                body = bodies.get(self.path, b"not found")
                self.send_response(200 if self.path in bodies else 404)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


class ThreadedWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True


class QuietHandler(WSGIRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0, help="how long to hammer the endpoint (60)")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients (16)")
    parser.add_argument("--interval", type=float, default=5.0, help="poll interval of each upstream check, seconds (5)")
    options = parser.parse_args()

    sys.path.insert(0, str(ROOT))
    import django
    from django.conf import settings

    settings.configure(
        DEBUG=False,
        ALLOWED_HOSTS=["*"],
        ROOT_URLCONF=__name__,
        INSTALLED_APPS=["health_check"],
        DATABASES={},
        HEALTH_CHECK={"STORE": "memory", "POLLER_AUTOSTART": False},
        USE_TZ=True,
    )
    sys.modules.setdefault(__name__, sys.modules["__main__"])
    django.setup()

    from django.core.handlers.wsgi import WSGIHandler
    from django.urls import path

    from health_check.contrib.atlassian import GitHub
    from health_check.contrib.rss import AWS
    from health_check.recorder import SnapshotRecorder
    from health_check.specs import CheckSpec
    from health_check.store import get_store
    from health_check.views import HealthCheckView
    from scheduler.jobs import CheckRunner
    from scheduler.poller import Poller

    provider = FakeProvider()
    interval = datetime.timedelta(seconds=options.interval)
    entries = [
        (GitHub, {"component": "Actions", "base_url": provider.url, "poll_interval": interval}),
        (AWS, {"region": "eu-west-1", "service": "s3", "base_url": provider.url, "poll_interval": interval}),
    ]
    urlpatterns.append(path("health/dev/pipeline/", HealthCheckView.as_view(checks=entries)))

    polls = {"count": 0}
    guard = threading.Lock()

    class CountingRunner(CheckRunner):
        def run(self, spec):  # type: ignore[no-untyped-def]
            snapshot = super().run(spec)
            with guard:
                polls["count"] += 1
            return snapshot

    poller = Poller(
        [CheckSpec.of(cls(**kwargs)) for cls, kwargs in entries], CountingRunner(SnapshotRecorder(get_store()).record)
    )
    poller.start()
    server = make_server("127.0.0.1", 0, WSGIHandler(), server_class=ThreadedWSGIServer, handler_class=QuietHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]

    deadline = time.monotonic() + options.seconds
    served = {"count": 0, "errors": 0}
    statuses: dict[int, int] = {}

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        while time.monotonic() < deadline:
            try:
                connection.request("GET", "/health/dev/pipeline/", headers={"Accept": "application/json"})
                response = connection.getresponse()
                response.read()
                with guard:
                    served["count"] += 1
                    statuses[response.status] = statuses.get(response.status, 0) + 1
            except (OSError, http.client.HTTPException):
                with guard:
                    served["errors"] += 1
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.close()

    time.sleep(0.5)  # let the first polls land, so the endpoint is answering from real snapshots
    threads = [threading.Thread(target=client, daemon=True) for _ in range(options.clients)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    poller.shutdown()
    time.sleep(0.5)
    server.shutdown()

    upstream = sum(provider.counts.values())
    print(
        f"duration                 {elapsed:8.1f} s, {options.clients} clients, poll interval {options.interval:g} s, 2 checks"
    )
    print(
        f"endpoint requests        {served['count']:8d} ({served['count'] / elapsed:.0f}/s, errors {served['errors']}, statuses {statuses})"
    )
    print(f"polls (check runs)       {polls['count']:8d}")
    print(f"requests to upstream     {upstream:8d} {dict(sorted(provider.counts.items()))}")
    print(f"upstream / polls         {upstream / max(polls['count'], 1):8.2f}  (must be 1.00)")
    print(f"upstream / endpoint      {upstream / max(served['count'], 1):8.5f}")
    sys.exit(0 if upstream == polls["count"] else 1)


if __name__ == "__main__":
    main()
