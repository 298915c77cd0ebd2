"""``manage.py health_check_poller``: run the poller as its own process (a sidecar, a systemd unit).

It joins the same election as the pollers started inside web processes, so running it beside them is
safe: one process per host polls. With a Redis store it campaigns twice: for its host's checks (one
poller per host) and for the fleet's (one poller in the fleet); ``--scope`` limits it to one of them,
e.g. a Deployment of one replica running ``--scope fleet`` (docs/fleet.md). SIGTERM and SIGINT stop it
cleanly and release the locks at once.
"""

from __future__ import annotations

import signal
import sys
import threading
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from health_check._indexer import write_endpoint_index
from health_check.autostart import build_election, collect_checks
from health_check.conf import get_config, seconds
from health_check.store import Store, StoreError, get_store


class Command(BaseCommand):
    help = "Run the health check poller in the foreground (one active poller per host wins the election)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--once", action="store_true", help="Run every check once, store and print the results, and exit (0 or 1)"
        )
        parser.add_argument(
            "--scope",
            choices=("host", "fleet", "all"),
            default=None,
            help='With a Redis store: poll only host-scoped or fleet-scoped checks (default: HEALTH_CHECK["POLLER_SCOPES"])',
        )

    def handle(self, *args: Any, **options: Any) -> None:
        stop = threading.Event()

        def on_signal(signum: int, frame: Any) -> None:
            stop.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        store = self._open_store(stop, retry=not options["once"])
        if store is None:
            return
        # Keyed as the endpoints read them: a store shared by hosts keeps host-scoped checks per host.
        endpoints: dict[str, set[str]] = {}
        specs, errors = collect_checks(host=store.host_id, endpoints=endpoints)
        for endpoint, error in errors:
            self.stderr.write(f"Endpoint {endpoint.label}: entry {error.entry}: {error.message}")
        if not specs:
            self.stderr.write("No health checks found: no HealthCheckView in the URLconf has checks. Nothing to poll.")
            sys.exit(2)
        if options["once"]:
            from health_check._maintenance_source import MaintenanceSource
            from health_check.recorder import store_runner
            from scheduler.jobs import run_all_once

            # What health_check --no-http reads instead of the URLconf (an elected poller writes its own).
            write_endpoint_index(store)

            runner = store_runner(
                store,
                max_stuck_runs=int(get_config()["MAX_STUCK_RUNS"]),
                maintenance=MaintenanceSource(store, endpoints),  # a silence holds for this run too
            )
            snapshots = run_all_once(runner, specs)
            for spec, snapshot in zip(specs, snapshots):
                self.stdout.write(f"{spec.name}: {snapshot.message}")
            sys.exit(0 if all(s.status.value == "ok" for s in snapshots) else 1)

        scope = options.get("scope")
        if scope not in (None, "all") and store.host_id is None:
            self.stderr.write(
                f"--scope {scope} needs a store shared by hosts (Redis); the {store.description} serves one host, "
                "whose poller runs every check."
            )
            sys.exit(2)
        scopes = None if scope is None else (("host", "fleet") if scope == "all" else (scope,))
        election = build_election(scopes)
        election.start()
        where = f", host: {store.host_id}" if store.host_id is not None else ""
        self.stdout.write(f"Health check poller: {len(specs)} checks, store: {store.description}{where}")
        self.stdout.flush()
        while not stop.wait(0.5):
            pass
        election.stop()
        self.stdout.write("Health check poller stopped.")

    def _open_store(self, stop: threading.Event, *, retry: bool) -> Store | None:
        """The store; with ``retry``, waits for it with backoff (None if stopped meanwhile), else exits 2.

        A store that cannot be opened yet (a directory mounted later, a setting being fixed) is said
        once, then tried again up to ``MAX_BACKOFF_SECONDS`` apart: a sidecar keeps its place instead
        of crash-looping.
        """
        from scheduler.election import MAX_BACKOFF_SECONDS

        pause = seconds(get_config()["ELECTION_RETRY"])
        last_error: str | None = None
        while True:
            try:
                return get_store()
            except StoreError as error:
                if not retry:
                    self.stderr.write(f"Cannot open the snapshot store: {error}")
                    sys.exit(2)
                if str(error) != last_error:
                    self.stderr.write(f"Cannot open the snapshot store: {error} Retrying until it opens.")
                    self.stderr.flush()
                    last_error = str(error)
            if stop.wait(pause):
                return None
            pause = min(pause * 2, MAX_BACKOFF_SECONDS)
