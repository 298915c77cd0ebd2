"""A busy host is not a sick host: the node tier's answers while the CPU is held at ~100 %.

Starts gunicorn (2 sync workers, the poller inside, a diskcache store) serving three URLs: the node tier
with default settings (``CPU``, ``Memory``, ``Disk``), the same tier with django-health-check's CPU rule
(``CPU(sustained=timedelta(0))``: one window over 80 % warns) for comparison, and a bare Django view.
For each URL it holds every core busy with spinning subprocesses for ``--seconds`` while a load generator
on loopback (wrk when installed, else a threaded Python client) asks the URL, then lets the host calm
down for two poll intervals. Prints requests, non-2xx answers and their share (target for the default
node tier: 0 %), requests per second against the bare view, and the highest CPU usage the check measured.

    python benchmarks/node_under_load.py [--seconds 10] [--connections 4] [--client wrk|python]

The spinners end by themselves after ``--seconds`` (at most 120), so an interrupted run leaves no core
spinning. Run it on an otherwise idle machine: other load only adds to the burst.
"""

from __future__ import annotations

import argparse
import datetime
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
STORE_ENV = "HS_NODE_BENCH_STORE"  # set for the gunicorn child: this module is then its settings and URLconf
POLL = datetime.timedelta(seconds=5)  # the psutil checks' default poll interval
SPIN = "import time, sys\nend = time.monotonic() + float(sys.argv[1])\nwhile time.monotonic() < end:\n    pass\n"
PATHS = {
    "node tier, defaults": "/health/node/",
    "node tier, CPU(sustained=0)": "/health/node-at-once/",
    "bare Django view": "/bare/",
}
urlpatterns: list = []


# -- the served side (imported by gunicorn) --------------------------------------------------------


def _configure_served_project(store: str) -> None:
    import django
    from django.conf import settings
    from django.http import HttpResponse
    from django.urls import path

    settings.configure(
        DEBUG=False,
        SECRET_KEY="benchmark",
        ALLOWED_HOSTS=["127.0.0.1"],
        ROOT_URLCONF=__name__,
        INSTALLED_APPS=["health_check"],
        MIDDLEWARE=["django.middleware.security.SecurityMiddleware", "django.middleware.common.CommonMiddleware"],
        TEMPLATES=[{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True}],
        DATABASES={},
        USE_TZ=True,
        HEALTH_CHECK={"STORE": "diskcache", "STORE_LOCATION": store, "POLLER_AUTOSTART": True},
    )
    django.setup()
    from health_check.views import HealthCheckView

    memory_and_disk = ["health_check.contrib.psutil.Memory", ("health_check.contrib.psutil.Disk", {"path": str(ROOT)})]
    node = ["health_check.contrib.psutil.CPU", *memory_and_disk]
    at_once = [("health_check.contrib.psutil.CPU", {"sustained": datetime.timedelta(0)}), *memory_and_disk]
    urlpatterns.extend(
        [
            path("bare/", lambda request: HttpResponse("ok", content_type="text/plain")),
            path("health/node/", HealthCheckView.as_view(checks=node)),
            path("health/node-at-once/", HealthCheckView.as_view(checks=at_once)),
        ]
    )


if os.environ.get(STORE_ENV) and __name__ != "__main__":
    _configure_served_project(os.environ[STORE_ENV])
    from django.core.wsgi import get_wsgi_application

    application = get_wsgi_application()


# -- the measuring side ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def status_of(port: int, path: str) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return 0


def cpu_seen(port: int, path: str) -> float | None:
    """The CPU check's latest measurement behind ``path``, from its health+json answer."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}?format=health%2Bjson", timeout=10) as response:
            body = response.read()
    except urllib.error.HTTPError as error:
        body = error.read()
    except OSError:
        return None
    for key, entries in json.loads(body).get("checks", {}).items():
        if key.startswith("CPU"):
            return float(entries[0].get("observedValue", 0))
    return None


def wait_until_healthy(port: int, path: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while status_of(port, path) != 200:
        if time.monotonic() > deadline:
            raise SystemExit(f"{path} did not answer 200 within {seconds:.0f} s on an idle host")
        time.sleep(0.2)


def load_with_wrk(port: int, path: str, seconds: float, connections: int) -> dict[str, int]:
    result = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds:.0f}s", "--timeout", "10s", f"http://127.0.0.1:{port}{path}"],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
    )
    text = result.stdout
    requests = re.search(r"(\d+) requests in", text)
    if result.returncode != 0 or requests is None:
        raise SystemExit(f"wrk failed ({result.returncode}): {result.stderr.strip() or text.strip()}")
    failed = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    return {
        "requests": int(requests.group(1)),
        "non_2xx": int(failed.group(1)) if failed else 0,
        "socket_errors": sum(map(int, errors.groups())) if errors else 0,
    }


def load_with_python(port: int, path: str, seconds: float, connections: int) -> dict[str, int]:
    counts: Counter[str] = Counter()
    guard = threading.Lock()
    deadline = time.monotonic() + seconds

    def client() -> None:
        while time.monotonic() < deadline:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            try:
                connection.request("GET", path)
                response = connection.getresponse()
                response.read()
                outcome = "ok" if 200 <= response.status < 300 else "non_2xx"
            except OSError:
                outcome = "socket_errors"
            finally:
                connection.close()
            with guard:
                counts[outcome] += 1

    threads = [threading.Thread(target=client, daemon=True) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + 30)
    return {"requests": sum(counts.values()), "non_2xx": counts["non_2xx"], "socket_errors": counts["socket_errors"]}


def busy_percent(before, after) -> float:
    total = sum(after) - sum(before)
    return 100.0 * (1 - (after.idle - before.idle) / total) if total > 0 else 0.0


def measure(port: int, path: str, seconds: float, connections: int, client: str) -> dict[str, float]:
    """Hold every core busy for ``seconds`` while the client asks ``path``; the answers and CPU figures."""
    import psutil

    load = load_with_wrk if client == "wrk" else load_with_python
    seen: list[float] = []
    stop = threading.Event()

    def watch() -> None:  # one cheap request a second: what the CPU check measured meanwhile
        while not stop.wait(1.0):
            if (value := cpu_seen(port, path)) is not None:
                seen.append(value)

    spinners = [subprocess.Popen([sys.executable, "-c", SPIN, str(seconds)]) for _ in range(os.cpu_count() or 1)]
    watcher = threading.Thread(target=watch, daemon=True) if path != "/bare/" else None
    before = psutil.cpu_times()
    try:
        if watcher:
            watcher.start()
        figures: dict[str, float] = dict(load(port, path, seconds, connections))
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait(5)
        stop.set()
    figures["cpu_busy"] = busy_percent(before, psutil.cpu_times())
    figures["cpu_seen"] = max(seen) if seen else float("nan")
    figures["rate"] = figures["requests"] / seconds
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each burst (at most 120)")
    parser.add_argument("--connections", type=int, default=4, help="concurrent client connections")
    parser.add_argument("--client", choices=["wrk", "python"], default="wrk" if shutil.which("wrk") else "python")
    args = parser.parse_args()
    seconds = min(max(args.seconds, 1.0), 120.0)

    store = tempfile.mkdtemp(prefix="hs-node-load-")
    port = free_port()
    env = {**os.environ, STORE_ENV: store, "PYTHONPATH": os.pathsep.join([str(ROOT), str(HERE)])}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    argv = [sys.executable, "-m", "gunicorn", "node_under_load:application", "--bind", f"127.0.0.1:{port}"]
    server = subprocess.Popen(
        [*argv, "--workers", "2", "--worker-class", "sync", "--log-level", "warning"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    results: dict[str, dict[str, float]] = {}
    try:
        for name, path in PATHS.items():
            wait_until_healthy(port, path, 60)
            results[name] = measure(port, path, seconds, args.connections, args.client)
            time.sleep(2 * POLL.total_seconds())  # a calm window resets the CPU check before the next burst
    finally:
        server.terminate()
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
        shutil.rmtree(store, ignore_errors=True)

    bare_rate = results["bare Django view"]["rate"]
    print(
        f"{seconds:.0f} s at ~100 % CPU ({os.cpu_count()} spinning processes), gunicorn 2 sync workers, "
        f"client {args.client}, {args.connections} connections"
    )
    print(
        f"{'':30} {'requests':>9} {'non-2xx':>8} {'share':>7} {'errors':>7} {'req/s':>8} {'vs bare':>8} "
        f"{'CPU busy':>9} {'CPU seen':>9}"
    )
    for name, figures in results.items():
        share = 100 * figures["non_2xx"] / figures["requests"] if figures["requests"] else float("nan")
        print(
            f"{name:30} {figures['requests']:9.0f} {figures['non_2xx']:8.0f} {share:6.1f}% "
            f"{figures['socket_errors']:7.0f} {figures['rate']:8.0f} {figures['rate'] / bare_rate:7.2f}x "
            f"{figures['cpu_busy']:8.0f}% {figures['cpu_seen']:8.1f}%"
        )
    print("target: 0 % non-2xx on the node tier with defaults (a burst shorter than CPU's sustained window)")


if __name__ == "__main__":
    main()
