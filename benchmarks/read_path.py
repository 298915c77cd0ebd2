"""What a probe costs: health endpoints against a bare Django view, through the full Django stack.

Calls a ``WSGIHandler`` directly with a prepared environ (no network, no server), so the figures are
Django's request path plus ours: middleware, URL resolution, one store read, one render. The store is
a real diskcache directory filled by one poll before timing starts.

Targets (issue #2): the 3-check node endpoint within 1.3x of a bare view; a 30-check endpoint under
100 µs more than a bare view. Also times ``manage.py health_check`` with and without HTTP against the
example project under gunicorn.

    python benchmarks/read_path.py [--iterations 3000] [--rounds 3] [--no-command] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import datetime
import io
import os
import pstats
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK_DIR = Path(tempfile.mkdtemp(prefix="hs-bench-"))
DISK_PATHS = [WORK_DIR / f"disk-{index:02d}" for index in range(30)]
HOUR = datetime.timedelta(hours=1)  # long intervals: snapshots stay fresh however long the run takes


def configure_django() -> None:
    import django
    from django.conf import settings

    for path in DISK_PATHS:
        path.mkdir(parents=True, exist_ok=True)
    settings.configure(
        DEBUG=False,
        SECRET_KEY="benchmark",
        ALLOWED_HOSTS=["testserver"],
        ROOT_URLCONF=__name__,
        INSTALLED_APPS=["health_check"],
        # The example project's middleware: what a real project has at least.
        MIDDLEWARE=["django.middleware.security.SecurityMiddleware", "django.middleware.common.CommonMiddleware"],
        TEMPLATES=[{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True}],
        DATABASES={},
        USE_TZ=True,
        HEALTH_CHECK={"STORE": "diskcache", "STORE_LOCATION": str(WORK_DIR / "store"), "POLLER_AUTOSTART": False},
    )
    django.setup()


def build_urlpatterns() -> list:
    from django.http import HttpResponse
    from django.urls import path

    from health_check.views import HealthCheckView

    node = [
        ("health_check.contrib.psutil.CPU", {"poll_interval": HOUR}),
        ("health_check.contrib.psutil.Memory", {"poll_interval": HOUR}),
        ("health_check.contrib.psutil.Disk", {"poll_interval": HOUR}),
    ]
    thirty = [("health_check.contrib.psutil.Disk", {"path": str(p), "poll_interval": HOUR}) for p in DISK_PATHS]

    def bare(request):
        return HttpResponse("ok", content_type="text/plain")

    # The cookbook's application tier. Its snapshots are written directly (see poll_once): a request reads
    # them exactly like node snapshots, and no Redis, RabbitMQ or Celery worker is needed to measure that.
    application = [
        ("health_check.Cache", {"poll_interval": HOUR}),
        ("health_check.Database", {"poll_interval": HOUR}),
        ("health_check.Mail", {"poll_interval": HOUR}),
        ("health_check.Storage", {"poll_interval": HOUR}),
        ("health_check.contrib.redis.Redis", {"client_factory": _redis_client, "poll_interval": HOUR}),
        (
            "health_check.contrib.rabbitmq.RabbitMQ",
            {"amqp_url": "amqp://guest:guest@localhost:5672//", "poll_interval": HOUR},
        ),
        ("health_check.contrib.celery.Ping", {"poll_interval": HOUR}),
    ]

    return [
        path("bare/", bare),
        path("application/", HealthCheckView.as_view(checks=application), name="application"),
        path("node/", HealthCheckView.as_view(checks=node), name="node"),
        path("thirty/", HealthCheckView.as_view(checks=thirty), name="thirty"),
    ]


urlpatterns: list = []


def _redis_client():
    from redis.asyncio import Redis as RedisClient

    return RedisClient.from_url("redis://localhost:6379")


def poll_once() -> None:
    """One poll fills the store, as the background poller would."""
    from django.urls import resolve

    from health_check.autostart import collect_checks
    from health_check.recorder import store_runner
    from health_check.snapshot import Snapshot, Status
    from health_check.store import get_store
    from scheduler.jobs import run_all_once

    specs, errors = collect_checks()
    assert not errors, errors
    application_keys = {spec.key for spec in resolve("/application/").func.view.get_check_specs()[0]}
    store = get_store()
    polled = [spec for spec in specs if spec.key not in application_keys]
    snapshots = run_all_once(store_runner(store), polled)
    bad = [s.message for s in snapshots if s.status.value != "ok"]
    assert not bad, f"checks not OK before timing: {bad}"
    now = datetime.datetime.now(datetime.UTC)
    for spec in specs:
        if spec.key in application_keys:
            store.write(
                Snapshot(
                    key=spec.key,
                    status=Status.OK,
                    message="OK",
                    checked_at=now,
                    duration_seconds=0.01,
                    interval_seconds=HOUR.total_seconds(),
                    timeout_seconds=5.0,
                )
            )


def environ_for(path: str, query: str = "") -> dict:
    return {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "SCRIPT_NAME": "",
        "QUERY_STRING": query,
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "testserver",
        "HTTP_ACCEPT": "*/*",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }


def start_response(status: str, headers: list, exc_info=None) -> None:
    start_response.status = status  # type: ignore[attr-defined]


def call(handler, environ: dict) -> None:
    response = handler(dict(environ), start_response)
    for _ in response:
        pass
    response.close()


def time_scenario(handler, environ: dict, iterations: int) -> list[int]:
    samples = []
    clock = time.perf_counter_ns
    for _ in range(iterations):
        started = clock()
        call(handler, environ)
        samples.append(clock() - started)
    return samples


def percentile(samples: list[int], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))] / 1000


SCENARIOS = {
    "bare view": ("/bare/", ""),
    "node (3 checks) json": ("/node/", "format=json"),
    "node (3 checks) text": ("/node/", "format=text"),
    "node (3 checks) html": ("/node/", "format=html"),
    "node (3 checks) svg": ("/node/", "format=svg"),
    "node (3 checks) shields": ("/node/", "format=shields"),
    "application (7) json": ("/application/", "format=json"),
    "30 checks json": ("/thirty/", "format=json"),
    "30 checks text": ("/thirty/", "format=text"),
    "30 checks html": ("/thirty/", "format=html"),
}


def bench_read_path(iterations: int, rounds: int, profile: bool) -> dict[str, float]:
    from django.core.handlers.wsgi import WSGIHandler

    handler = WSGIHandler()
    environs = {name: environ_for(*target) for name, target in SCENARIOS.items()}
    for name, environ in environs.items():
        call(handler, environ)
        status = start_response.status  # type: ignore[attr-defined]
        assert status.startswith("200"), f"{name}: {status}"
        for _ in range(300):  # warm-up
            call(handler, environ)
    samples: dict[str, list[int]] = {name: [] for name in SCENARIOS}
    for _ in range(rounds):  # interleaved rounds, so a noisy moment hurts every scenario alike
        for name, environ in environs.items():
            samples[name] += time_scenario(handler, environ, iterations)

    print(f"\nRead path through WSGIHandler ({rounds} x {iterations} requests each, after warm-up)")
    print(f"{'scenario':<24}{'median µs':>12}{'p99 µs':>12}")
    medians = {}
    for name, values in samples.items():
        medians[name] = percentile(values, 0.5)
        print(f"{name:<24}{medians[name]:>12.1f}{percentile(values, 0.99):>12.1f}")

    bare = medians["bare view"]
    print()
    for fmt in ("json", "text", "html"):
        ratio = medians[f"node (3 checks) {fmt}"] / bare
        print(f"node {fmt} / bare: {ratio:.2f}x, +{medians[f'node (3 checks) {fmt}'] - bare:.1f} µs (target <= 1.30x)")
    for fmt in ("svg", "shields"):
        badge = medians[f"node (3 checks) {fmt}"]
        json_median = medians["node (3 checks) json"]
        print(f"node {fmt} badge / node json: {badge / json_median:.2f}x (target: no more than the JSON answer)")
    application = medians["application (7) json"]
    node = medians["node (3 checks) json"]
    print(f"application json / node json: {application / node:.2f}x (same order: no service is touched by a request)")
    for fmt in ("json", "text", "html"):
        added = medians[f"30 checks {fmt}"] - bare
        print(f"30 checks {fmt}: +{added:.1f} µs over bare (target < 100 µs)")

    print("\nEvery request above after the first of its state (and, for HTML and OpenMetrics, of its second)")
    print("is a lookup of the body rendered for that state. A probe that comes once a second or less")
    print("(Kubernetes, HAProxy) finds JSON and text rendered, and renders HTML or OpenMetrics again for the")
    print("new second; a new run of a check (a new snapshot) renders each format once again:")
    for name in ("node (3 checks) json", "node (3 checks) html", "30 checks json", "30 checks html"):
        responder = _responder_for(SCENARIOS[name][0])
        sparse, changed = [], []
        for _ in range(max(200, iterations // 5)):
            state = responder._state
            if state is not None:
                for body in list(state.bodies.values()):
                    if hasattr(body, "second") and body.second:
                        body.second = -1  # measurement only: as if a new second had begun
            started = time.perf_counter_ns()
            call(handler, environs[name])
            sparse.append(time.perf_counter_ns() - started)
        for _ in range(max(200, iterations // 5)):
            responder._state = None  # measurement only: as if a check had just been re-run
            started = time.perf_counter_ns()
            call(handler, environs[name])
            changed.append(time.perf_counter_ns() - started)
        print(
            f"  {name:<22} new second: median {percentile(sparse, 0.5):7.1f} µs (p99 {percentile(sparse, 0.99):7.1f})"
            f"   new run: median {percentile(changed, 0.5):7.1f} µs (p99 {percentile(changed, 0.99):7.1f})"
        )

    if profile:
        for name in ("bare view", "node (3 checks) json", "30 checks html"):
            profiler = cProfile.Profile()
            profiler.enable()
            for _ in range(iterations):
                call(handler, environs[name])
            profiler.disable()
            print(f"\ncProfile: {name}, {iterations} requests, top 15 by cumulative time")
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(15)
    return medians


def _responder_for(path: str):
    from django.urls import resolve

    return resolve(path).func.responder


# -- the command ----------------------------------------------------------------------------------


def bench_command(runs: int = 5) -> None:
    example = ROOT / "example_project"
    env = dict(os.environ)
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env["HEALTH_CHECK_STORE_LOCATION"] = str(WORK_DIR / "example-store")
    env["EXAMPLE_DATA_DIR"] = str(WORK_DIR)
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    gunicorn = Path(sys.executable).parent / "gunicorn"
    server = subprocess.Popen(
        [str(gunicorn), "--bind", f"127.0.0.1:{port}", "--workers", "2", "example_project.wsgi"],
        cwd=example,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/dev/node/", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            time.sleep(0.2)
        else:
            raise SystemExit("the example project did not turn green within 30 s")
        manage = [sys.executable, str(example / "manage.py"), "health_check", "health_check-node"]
        modes = {
            "python -c pass (interpreter only)": [sys.executable, "-c", "pass"],
            "health_check --no-http": [*manage, "--no-http"],
            "health_check (HTTP)": [*manage, f"127.0.0.1:{port}"],
        }
        print(f"\nmanage.py health_check wall time (median of {runs} runs)")
        for label, command in modes.items():
            times = []
            for _ in range(runs):
                started = time.perf_counter()
                completed = subprocess.run(command, cwd=example, env=env, capture_output=True)
                times.append(time.perf_counter() - started)
                assert completed.returncode == 0, (label, completed.stdout, completed.stderr)
            print(f"  {label:<36} {statistics.median(times) * 1000:7.1f} ms")
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=15)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=3000, help="requests per scenario and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-command", action="store_true", help="skip timing manage.py health_check")
    parser.add_argument("--profile", action="store_true", help="print cProfile summaries of the read path")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    try:
        configure_django()
        urlpatterns[:] = build_urlpatterns()
        poll_once()
        bench_read_path(args.iterations, args.rounds, args.profile)
        if not args.no_command:
            bench_command()
    finally:
        shutil.rmtree(WORK_DIR, ignore_errors=True)


if __name__ == "__main__":
    main()
