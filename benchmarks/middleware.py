"""What HealthCheckMiddleware costs and saves, through Django's WSGIHandler (no network, no server).

Two handlers over one URLconf (100 ordinary patterns, then the endpoints): startproject's middleware
(SecurityMiddleware, CommonMiddleware) and the same with HealthCheckMiddleware first. Times a probe of a
3-check endpoint (memory store, fresh snapshots), a site page requested again and again (its resolution
remembered), and site pages on paths never seen before (one more URL resolution each: the worst case).

    python benchmarks/middleware.py [--iterations 5000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path

from read_path import environ_for  # the same WSGI environ as the read-path benchmark (benchmarks/ is on sys.path)

ROOT = Path(__file__).resolve().parent.parent
STARTPROJECT = ["django.middleware.security.SecurityMiddleware", "django.middleware.common.CommonMiddleware"]
OURS = "health_check.middleware.HealthCheckMiddleware"

urlpatterns: list = []


def configure() -> None:
    import django
    from django.conf import settings

    settings.configure(
        DEBUG=False,
        SECRET_KEY="benchmark",
        ALLOWED_HOSTS=["testserver"],
        ROOT_URLCONF=__name__,
        INSTALLED_APPS=["health_check"],
        MIDDLEWARE=STARTPROJECT,
        TEMPLATES=[{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True}],
        DATABASES={},
        USE_TZ=True,
        HEALTH_CHECK={"STORE": "memory", "POLLER_AUTOSTART": False},
    )
    django.setup()
    from django.http import HttpResponse
    from django.urls import path

    from health_check.views import HealthCheckView
    from tests.testapp.probes import Sample

    def page(request, **kwargs):
        return HttpResponse("ok", content_type="text/plain")

    checks = [Sample("alpha"), Sample("beta"), Sample("gamma")]
    urlpatterns[:] = [path(f"section-{n}/<int:item>/", page) for n in range(100)]
    urlpatterns.extend([path("page/", page), path("health/", HealthCheckView.as_view(checks=checks))])
    from health_check.store import get_store
    from tests.scenarios import write_scenario

    write_scenario(get_store(), "fresh")


def call(handler, environ: dict) -> str:
    status = []
    response = handler(dict(environ), lambda line, headers, exc_info=None: status.append(line))
    for _ in response:
        pass
    response.close()
    return status[0]


def median_us(handler, environs, iterations: int) -> float:
    samples = []
    clock = time.perf_counter_ns
    for environ in itertools.islice(environs, iterations):
        started = clock()
        call(handler, environ)
        samples.append(clock() - started)
    samples.sort()
    return samples[len(samples) // 2] / 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    configure()
    from django.conf import settings
    from django.core.handlers.wsgi import WSGIHandler

    handlers = {}
    for label, middleware in (("startproject", STARTPROJECT), ("ours first", [OURS, *STARTPROJECT])):
        settings.MIDDLEWARE = middleware
        handlers[label] = WSGIHandler()
    fresh_paths = (environ_for(f"/section-99/{n}/") for n in itertools.count())  # never the same path twice
    scenarios = {
        "probe /health/ json": lambda: itertools.repeat(environ_for("/health/", "format=json")),
        "site page, same path": lambda: itertools.repeat(environ_for("/page/")),
        "site page, new paths": lambda: fresh_paths,
    }
    for handler in handlers.values():
        for make in scenarios.values():
            environ = next(iter(make()))
            assert call(handler, environ).startswith("200"), environ["PATH_INFO"]
            median_us(handler, make(), 500)  # warm-up
    results: dict[tuple[str, str], list[float]] = {}
    for _ in range(args.rounds):  # interleaved, so a noisy moment hurts both stacks alike
        for scenario, make in scenarios.items():
            for label, handler in handlers.items():
                results.setdefault((scenario, label), []).append(median_us(handler, make(), args.iterations))
    print(f"\nWSGIHandler, median µs per request ({args.rounds} rounds x {args.iterations}, best round)")
    print(f"{'scenario':<24}{'startproject':>14}{'ours first':>14}{'difference':>12}")
    for scenario in scenarios:
        before, after = min(results[(scenario, "startproject")]), min(results[(scenario, "ours first")])
        print(f"{scenario:<24}{before:>14.1f}{after:>14.1f}{after - before:>+12.1f}")


if __name__ == "__main__":
    main()
