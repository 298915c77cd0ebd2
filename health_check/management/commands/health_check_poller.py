"""``manage.py health_check_poller``: run the poller as its own process (a sidecar, a systemd unit).

It joins the same election as the pollers started inside web processes, so running it beside them is
safe: one process per host polls. SIGTERM and SIGINT stop it cleanly and release the lock at once.
"""

from __future__ import annotations

import signal
import sys
import threading
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from health_check.autostart import build_election, collect_checks
from health_check.conf import get_config
from health_check.store import StoreError, get_store


class Command(BaseCommand):
    help = "Run the health check poller in the foreground (one active poller per host wins the election)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--once", action="store_true", help="Run every check once, store and print the results, and exit (0 or 1)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        specs, errors = collect_checks()
        for endpoint, error in errors:
            self.stderr.write(f"Endpoint {endpoint.label}: entry {error.entry}: {error.message}")
        if not specs:
            self.stderr.write(
                "No health checks found: no HealthCheckView in the URLconf has checks. Nothing to poll."
            )
            sys.exit(2)
        try:
            store = get_store()
        except StoreError as error:
            self.stderr.write(f"Cannot open the snapshot store: {error}")
            sys.exit(2)
        if options["once"]:
            from scheduler.jobs import CheckRunner, run_all_once

            runner = CheckRunner(store, max_stuck_runs=int(get_config()["MAX_STUCK_RUNS"]))
            snapshots = run_all_once(runner, specs)
            for spec, snapshot in zip(specs, snapshots):
                self.stdout.write(f"{spec.name}: {snapshot.message}")
            sys.exit(0 if all(s.status.value == "ok" for s in snapshots) else 1)

        stop = threading.Event()

        def on_signal(signum: int, frame: Any) -> None:
            stop.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        election = build_election()
        election.start()
        self.stdout.write(f"Health check poller: {len(specs)} checks, store: {store.description}")
        self.stdout.flush()
        while not stop.wait(0.5):
            pass
        election.stop()
        self.stdout.write("Health check poller stopped.")
