"""What uptime costs: per poll (a new state computes it from the journal) and per request (a lookup).

A diskcache store holds 30 checks with 30 days of history each: ``--changes`` journal entries per check
(200 by default: a change every 3.6 h; ``--changes 1000`` is the ``JOURNAL_RETENTION`` bound, a change
every 43 min), fresh snapshots. Timed through Django's
``WSGIHandler`` with a prepared environ, as ``read_path.py`` does:

- per request: the status page (HTML), ``?format=uptime`` and the JSON answer, from a state that exists;
- per poll: the first request after a new snapshot, which reads the whole journal of the endpoint's
  checks and computes every check's and the endpoint's figures and daily bars once.

    python benchmarks/uptime.py [--iterations 2000] [--changes 200]
"""

from __future__ import annotations

import argparse
import datetime
import statistics
import sys
import time

from read_path import DISK_PATHS, ROOT, call, configure_django, environ_for, percentile, start_response

DAY = datetime.timedelta(days=1)


def fill(changes: int) -> None:
    """Fresh snapshots of the 30 checks, and ``changes`` alternating ok/error entries each over 30 days."""
    from health_check.contrib.psutil import Disk
    from health_check.journal import STATUS, Transition, append_transitions
    from health_check.snapshot import Snapshot, Status
    from health_check.specs import CheckSpec
    from health_check.store import get_store

    store = get_store()
    now = datetime.datetime.now(datetime.UTC)
    step = 30 * DAY / changes
    for path in DISK_PATHS:
        spec = CheckSpec.of(Disk(path=str(path), poll_interval=datetime.timedelta(hours=1)), store.host_id)
        store.write(
            Snapshot(
                key=spec.key,
                status=Status.OK,
                message="OK",
                checked_at=now,
                duration_seconds=0.01,
                interval_seconds=3600.0,
                timeout_seconds=5.0,
                observed_since=now - 31 * DAY,
            )
        )
        states = ["ok", "error"]
        entries = [
            Transition(
                id=f"{spec.key}-{n}",
                key=spec.key,
                name=spec.name,
                kind=STATUS,
                from_state=states[n % 2],
                to_state=states[(n + 1) % 2],
                at=now - 30 * DAY + n * step,
                message="",
                title=f"{spec.name}: {states[(n + 1) % 2]}",
            )
            for n in range(changes)
        ]
        append_transitions(store, entries, retention=changes)


def median_us(handler, environ, iterations: int) -> float:
    samples = []
    for _ in range(iterations):
        started = time.perf_counter_ns()
        call(handler, environ)
        samples.append(time.perf_counter_ns() - started)
    return statistics.median(samples) / 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=2000)
    parser.add_argument("--changes", type=int, default=200)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    configure_django()
    import read_path

    read_path.urlpatterns[:] = read_path.build_urlpatterns()
    from django.core.handlers.wsgi import WSGIHandler

    fill(args.changes)
    handler = WSGIHandler()
    scenarios = {"json": "format=json", "uptime": "format=uptime", "html": "format=html"}
    print(f"30 checks, {args.changes} journal entries each over 30 days ({30 * args.changes} in all)")
    print(f"{'format':<10}{'per request µs':>16}{'p99 µs':>10}")
    for name, query in scenarios.items():
        environ = environ_for("/thirty/", query)
        call(handler, environ)
        assert start_response.status.startswith(("200", "500")), start_response.status  # type: ignore[attr-defined]
        samples = []
        for _ in range(args.iterations):
            started = time.perf_counter_ns()
            call(handler, environ)
            samples.append(time.perf_counter_ns() - started)
        print(f"{name:<10}{statistics.median(samples) / 1000:>16.1f}{percentile(samples, 0.99):>10.1f}")

    # Per poll: a new state (the responder forgets its state, as after a new snapshot) computes it again.
    import django.urls

    from health_check.views import HealthCheckEndpoint

    endpoint = django.urls.resolve("/thirty/").func
    assert isinstance(endpoint, HealthCheckEndpoint)
    responder = endpoint.responder
    environ = environ_for("/thirty/", "format=uptime")
    timings: dict[str, list[int]] = {"a check changed state": [], "no check changed state": []}
    for _ in range(20):
        for case, forget in (("a check changed state", True), ("no check changed state", False)):
            responder._state = None  # what a new snapshot does
            if forget:
                responder._uptime_memo.clear()  # what a change of state (a new journal entry) does
            started = time.perf_counter_ns()
            call(handler, environ)
            timings[case].append(time.perf_counter_ns() - started)
    lookup = median_us(handler, environ, 200)
    print("first ?format=uptime request of a new state (one per worker after each poll):")
    for case, samples in timings.items():
        print(f"  {case:<24} median {statistics.median(samples) / 1e3:>9.1f} µs")
    print(f"then, per request: {lookup:.1f} µs")


if __name__ == "__main__":
    main()
