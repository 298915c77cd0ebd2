"""``manage.py health_check_drain [--seconds N]``: take this host out of rotation before it stops.

For a Kubernetes ``preStop`` exec hook (or a deploy script before it stops a server): it marks this
host as draining in the snapshot store, so every ``readiness=True`` endpoint answers 503 at once, then
waits ``--seconds`` while the endpoints controller and the load balancers take the host out and the
requests in flight finish. Liveness endpoints and every other URL keep serving. Kubernetes sends
SIGTERM to the server when the hook returns.

The drain ends when ``--seconds`` pass (the mark carries its end, so a command that crashes or is
killed never leaves a host draining for longer), when the web processes restart, or with
``--end`` (Ctrl-C or SIGTERM to this command end it too).

Exit codes: 0 drained; 2 the store could not be written (the command still waits ``--seconds``, so
the requests in flight get their time; readiness endpoints then do not know about the drain).
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from health_check._drain import drain_key, drain_snapshot
from health_check.store import StoreError, get_store

#: A preStop hook shorter than the grace period (Kubernetes' default: 30 s), longer than a few probe periods.
DEFAULT_SECONDS = 15.0
#: Longest drain: a mark lasting for hours would be a mistake, not a drain.
MAX_SECONDS = 3600.0


class Command(BaseCommand):
    help = "Mark this host as draining: readiness endpoints answer 503 for --seconds (default 15), then exit."

    requires_system_checks: list[str] = []  # a preStop hook must stay cheap and must not fail on a warning

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--seconds",
            type=float,
            default=DEFAULT_SECONDS,
            help=f"How long to drain and wait, in seconds (default: {DEFAULT_SECONDS:g})",
        )
        parser.add_argument("--end", action="store_true", help="End this host's drain now, and exit")

    def handle(self, *args: Any, **options: Any) -> None:
        seconds = options["seconds"]
        if not 0 < seconds <= MAX_SECONDS:
            raise CommandError(f"--seconds must be above 0 and at most {MAX_SECONDS:g}, got {seconds:g}.")
        if options["end"]:
            if not self._mark(0.0):
                sys.exit(2)
            self.stdout.write("Drain ended: readiness endpoints report the checks again.")
            return
        stop = threading.Event()

        def on_signal(signum: int, frame: Any) -> None:
            stop.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        marked = self._mark(seconds)
        if marked:
            self.stdout.write(f"Draining for {seconds:g} s: readiness endpoints answer 503.")
            self.stdout.flush()
        ended_early = stop.wait(seconds)
        if marked:
            self._mark(0.0)  # the mark would expire now anyway; ending it says so to every reader at once
            self.stdout.write("Drain cancelled." if ended_early else "Drained.")
        if not marked:
            sys.exit(2)

    def _mark(self, seconds: float) -> bool:
        """Write the mark of a drain for ``seconds`` from now (0: its end); say what failed, never raise."""
        try:
            store = get_store()
            store.write(drain_snapshot(drain_key(store.host_id), time.time(), seconds))
        except StoreError as error:
            self.stderr.write(f"Cannot mark this host as draining: {error}")
            return False
        return True
