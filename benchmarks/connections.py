"""Connections each application-tier check opens per hour at its default interval, measured.

Puts a counting TCP proxy on 127.0.0.1 in front of each service (Redis, RabbitMQ, MariaDB, a Celery
broker, an HTTP peer for RemoteCheck), runs the real poller on checks pointed at the proxies with a
short interval for a few seconds, and counts the connections each service accepted. Connections per
run times runs per hour at the default interval is the figure printed; the "computed" column assumes
one connection per run. Services that are not running are skipped.

    python benchmarks/connections.py [--seconds 10] [--interval 0.5]
"""

from __future__ import annotations

import argparse
import datetime
import http.server
import os
import socket
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.testapp.settings")


class CountingProxy:
    """Forwards every TCP connection to ``target`` and counts them."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.accepted = 0
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                try:
                    end.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self.sock.close()


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def http_peer() -> int:
    """A stand-in for another instance's JSON endpoint."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            body = b'{"Database(alias=\'default\')": "OK"}'
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server.server_address[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--interval", type=float, default=0.5, help="poll interval of the measuring run (s)")
    arguments = parser.parse_args()

    import django

    django.setup()
    from django.db import connections
    from redis.asyncio import Redis as RedisClient

    from health_check import Database, RemoteCheck
    from health_check.contrib.celery import Ping
    from health_check.contrib.rabbitmq import RabbitMQ
    from health_check.contrib.redis import Redis
    from health_check.recorder import store_runner
    from health_check.specs import CheckSpec
    from health_check.store.memory import MemoryStore
    from scheduler.poller import Poller
    from tests.contrib.celery_app import make_app

    every = {"poll_interval": datetime.timedelta(seconds=arguments.interval)}
    rows: list[tuple[str, object, CountingProxy]] = []

    def add(name: str, port: int, build) -> None:
        if not port_open(port):
            print(f"{name}: skipped, nothing listens on 127.0.0.1:{port}")
            return
        proxy = CountingProxy(("127.0.0.1", port))
        rows.append((name, build(proxy.port), proxy))

    add("Redis", 6379, lambda p: Redis(client_factory=lambda: RedisClient.from_url(f"redis://127.0.0.1:{p}"), **every))
    add("RabbitMQ", 5672, lambda p: RabbitMQ(amqp_url=f"amqp://guest:guest@127.0.0.1:{p}//", **every))
    add(
        "Celery Ping (RabbitMQ broker)",
        5672,
        lambda p: Ping(app=make_app(f"amqp://guest:guest@127.0.0.1:{p}//", "hs-bench"), **every),
    )

    def mariadb(p: int) -> Database:
        import pymysql

        pymysql.install_as_MySQLdb()
        connections.settings["bench_mariadb"] = connections.configure_settings(
            {
                "default": {"ENGINE": "django.db.backends.dummy"},
                "bench_mariadb": {
                    "ENGINE": "django.db.backends.mysql",
                    "NAME": "test",
                    "USER": "root",
                    "HOST": "127.0.0.1",
                    "PORT": str(p),
                },
            }
        )["bench_mariadb"]
        return Database(alias="bench_mariadb", **every)

    add("Database (MariaDB)", 3306, mariadb)
    add("RemoteCheck (HTTP)", http_peer(), lambda p: RemoteCheck(url=f"http://127.0.0.1:{p}/", label="peer", **every))

    store = MemoryStore()
    runs: dict[str, int] = {}
    runner = store_runner(store)
    original = runner.run

    def counting_run(spec: CheckSpec):
        snapshot = original(spec)
        runs[spec.key] = runs.get(spec.key, 0) + 1
        runs[f"{spec.key}:last"] = snapshot.message  # type: ignore[assignment]
        return snapshot

    runner.run = counting_run  # type: ignore[method-assign]
    specs = [CheckSpec.of(check) for _, check, _ in rows]
    poller = Poller(specs, runner, jitter=0.0)
    poller.start()
    time.sleep(arguments.seconds)
    poller.shutdown()
    time.sleep(arguments.interval + 1)  # let runs in flight land

    print(f"\nmeasured over {arguments.seconds:g} s at a {arguments.interval:g} s interval\n")
    header = f"{'service':32} {'default':>8} {'runs':>5} {'conns':>6} {'per run':>8} {'computed/h':>11} {'measured/h':>11}  last result"
    print(header)
    print("-" * len(header))
    for (name, check, proxy), spec in zip(rows, specs):
        default = type(check).default_poll_interval.total_seconds()
        count = runs.get(spec.key, 0)
        per_run = proxy.accepted / count if count else float("nan")
        computed = 3600 / default
        print(
            f"{name:32} {default:>7g}s {count:>5} {proxy.accepted:>6} {per_run:>8.2f} {computed:>11.0f} "
            f"{computed * per_run:>11.0f}  {runs.get(spec.key + ':last', '')[:60]}"
        )
        proxy.close()


if __name__ == "__main__":
    main()
