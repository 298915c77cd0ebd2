"""``manage.py health_check_silence <check or url-name> --for 1h --reason "..."``: planned maintenance.

While a silence lasts, the checks it names read "maintenance" with its reason, answer their probes as
healthy (unless ``--fail-probes``), post one feed item when it starts and one when it ends, and their
uptime leaves the time out. The silence is kept in the snapshot store, so every worker and, with Redis,
every host shares it; the poller applies it within about a second.

    health_check_silence "Database(alias='default')" --for 30m --reason "PostgreSQL 17 upgrade"
    health_check_silence health_check-app --for 2h --reason "RabbitMQ migration"   # every check of an endpoint
    health_check_silence --list
    health_check_silence --end 3f2a9c1e        # or --end <the same target>: every silence of it

Exit codes: 0 done; 2 wrong arguments, an unknown check or endpoint, or a store that does not answer.
"""

from __future__ import annotations

import datetime
import difflib
import getpass
import sys
from typing import Any, NoReturn

from django.core.management.base import BaseCommand, CommandParser

from health_check._maintenance_source import read_silences, spec_targets
from health_check.autostart import collect_checks
from health_check.conf import get_config
from health_check.maintenance import MAX_SILENCE, Silence, parse_duration, parse_windows
from health_check.store import StoreError, get_store

_UTC = datetime.UTC


class Command(BaseCommand):
    help = "Silence a check or an endpoint for planned maintenance (--for, --reason); --list, --end."

    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "target", nargs="?", help="A check's name as the endpoints show it, its title, or an endpoint's URL name"
        )
        parser.add_argument("--for", dest="duration", help="How long: 30m, 1h, 2h30m, 1d (at most 30 days)")
        parser.add_argument("--reason", default="", help="Why; shown in every reading and feed item")
        parser.add_argument(
            "--fail-probes",
            action="store_true",
            help="Keep failing probes while silenced (default: a silenced check answers its probes as healthy)",
        )
        parser.add_argument("--list", action="store_true", help="List the silences and windows under way")
        parser.add_argument("--end", metavar="ID_OR_TARGET", help="End a silence by id, or every silence of a target")

    def handle(self, *args: Any, **options: Any) -> None:
        store = self._store()
        if options["list"]:
            return self._list(store)
        if options["end"]:
            return self._end(store, options["end"])
        target, duration = options["target"], options["duration"]
        if not target or not duration:
            self._fail(
                'Give a check or endpoint and --for, e.g. health_check_silence health_check-app --for 1h --reason "..."'
            )
        try:
            length = parse_duration(duration)
        except ValueError as error:
            self._fail(f"--for: {error}.")
        if length > MAX_SILENCE:
            self._fail(f"--for: at most {MAX_SILENCE.days} days; longer maintenance is a window in settings.")
        self._known(store, target)
        silence = Silence.new(
            target,
            length,
            options["reason"],
            now=datetime.datetime.now(_UTC),
            fail_probes=options["fail_probes"],
            created_by=_user(),
        )
        try:
            store.write_silence(silence.to_dict())
        except (StoreError, ValueError) as error:
            self._fail(f"Cannot keep the silence: {error}")
        probes = "its probes still fail" if silence.fail_probes else "its probes answer healthy"
        self.stdout.write(
            f"Silenced {target} until {silence.ends_at:%Y-%m-%d %H:%M} UTC (id {silence.id}): {silence.reason}; "
            f"{probes}. End it early with: manage.py health_check_silence --end {silence.id}"
        )

    def _store(self) -> Any:
        try:
            return get_store()
        except StoreError as error:
            self._fail(f"Cannot open the health check store: {error}")

    def _known(self, store: Any, target: str) -> None:
        """Refuse a target no check or endpoint answers to: a typo would silence nothing, silently."""
        endpoints: dict[str, set[str]] = {}
        specs, _ = collect_checks(host=store.host_id, endpoints=endpoints)
        names: set[str] = set(endpoints)
        for spec in specs:
            names |= spec_targets(spec, endpoints)
        if target in names:
            return
        close = difflib.get_close_matches(target, sorted(names), n=3)
        hint = f" Did you mean {', '.join(repr(name) for name in close)}?" if close else ""
        self._fail(f"No check or endpoint is called {target!r}.{hint} Names are as the endpoints show them.")

    def _list(self, store: Any) -> None:
        now = datetime.datetime.now(_UTC)
        try:
            silences = sorted((s for s in read_silences(store) if s.ends_at > now), key=lambda s: s.ends_at)
        except StoreError as error:
            self._fail(f"Cannot read the silences: {error}")
        if not silences:
            self.stdout.write("No silence under way.")
        for silence in silences:
            probes = ", probes fail" if silence.fail_probes else ""
            by = f" by {silence.created_by}" if silence.created_by else ""
            self.stdout.write(
                f"{silence.id}  {silence.target}  until {silence.ends_at:%Y-%m-%d %H:%M} UTC{probes}{by}: {silence.reason}"
            )
        try:
            windows = parse_windows(get_config()["MAINTENANCE_WINDOWS"])
        except ValueError as error:
            self.stdout.write(f'Windows: none apply, HEALTH_CHECK["MAINTENANCE_WINDOWS"] is wrong: {error}')
            return
        for window in windows:
            found = window.occurrence(now)
            when = f"under way until {found[1]:%Y-%m-%d %H:%M} UTC" if found else "not now"
            self.stdout.write(f"window {window.name}  {', '.join(window.targets)}  {when}: {window.reason}")

    def _end(self, store: Any, given: str) -> None:
        now = datetime.datetime.now(_UTC)
        try:
            found = [s for s in read_silences(store) if s.ends_at > now and given in (s.id, s.target)]
            for silence in found:
                store.delete_silence(silence.id)
        except StoreError as error:
            self._fail(f"Cannot end the silence: {error}")
        if not found:
            self._fail(f"No silence under way has the id or target {given!r}; see --list.")
        for silence in found:
            self.stdout.write(f"Ended silence {silence.id} of {silence.target}: {silence.reason}")

    def _fail(self, message: str) -> NoReturn:
        self.stderr.write(message)
        sys.exit(2)


def _user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no user name in a bare container
        return ""
