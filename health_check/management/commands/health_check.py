"""``manage.py health_check <url-name> [addrport]``: the container HEALTHCHECK command.

Same arguments and exit codes as django-health-check: 0 healthy, 1 failing, 2 could not tell. As
there, ``call_command("health_check", ...)`` returns normally when healthy and raises ``SystemExit``
(1 or 2) otherwise. With
``--no-http`` it reads the snapshot store directly: no HTTP, no check run, so it costs a Django start-up
and one store read, and agrees with what the endpoint answers. The endpoint's checks come from the
poller's endpoint index (``health_check._index``) when it is current, so the URLconf, and all that
its checks import, is not imported; otherwise from the URLconf, with the same answer.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, NoReturn

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.urls import NoReverseMatch, Resolver404, resolve, reverse

from health_check._drain import active_drain, drain_key, reading_as_command
from health_check._index import endpoint_readings, lookup
from health_check._subsets import SubsetError, reading_names, select
from health_check.conf import get_config
from health_check.snapshot import Report
from health_check.store import StoreError, get_store

logger = logging.getLogger("health_check.index")

EXIT_HEALTHY, EXIT_FAILING, EXIT_UNKNOWN = 0, 1, 2
#: Longest answer printed (bytes): a health endpoint answers a few lines; anything else is cut.
_MAX_BODY = 1024 * 1024


class Command(BaseCommand):
    help = "Ask a health check endpoint (over HTTP, or from the snapshot store) and exit 0 if it is healthy."

    requires_system_checks: list[str] = []  # a probe must stay cheap; `manage.py check` reports configuration

    @property
    def default_forwarded_host(self) -> str | None:
        hosts = settings.ALLOWED_HOSTS
        return hosts[0].strip(".") if hosts and hosts[0] != "*" else None

    @property
    def default_addrport(self) -> str:
        return f"{os.getenv('HOST', '127.0.0.1')}:{os.getenv('PORT', '8000')}"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("endpoint", help="URL pattern name of the health check endpoint, e.g. health_check-node")
        parser.add_argument(
            "addrport",
            nargs="?",
            default=self.default_addrport,
            help="ipaddr:port of the server (default: $HOST:$PORT)",
        )
        parser.add_argument("--forwarded-host", default=self.default_forwarded_host, help="X-Forwarded-Host header")
        parser.add_argument("--forwarded-proto", choices=["http", "https"], default="https", help="X-Forwarded-Proto")
        parser.add_argument("--timeout", type=float, default=5, help="Request timeout in seconds (default: 5)")
        parser.add_argument(
            "--auth-token",
            default=None,
            help="Bearer token (default: HEALTH_CHECK['AUTH_TOKEN'] or HEALTH_CHECK_AUTH_TOKEN)",
        )
        parser.add_argument(
            "--check",
            action="append",
            default=[],
            metavar="NAME",
            help="Only this check (class name or full name); repeatable. As the endpoint's ?check=",
        )
        parser.add_argument(
            "--exclude",
            action="append",
            default=[],
            metavar="NAME",
            help="All checks but this one (class name or full name); repeatable. As the endpoint's ?exclude=",
        )
        group = parser.add_mutually_exclusive_group()
        group.add_argument(
            "--http", action="store_true", dest="use_http", default=True, help="Ask the server (default)"
        )
        group.add_argument(
            "--no-http",
            action="store_false",
            dest="use_http",
            help="Read the snapshot store directly, no server needed",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        endpoint = options["endpoint"]
        reading_as_command()  # --no-http: a drain of this host counts unless the host restarted since
        code = None if options["use_http"] else self._answer_from_index(endpoint, options)
        if code is None:
            try:
                path = reverse(endpoint)
            except NoReverseMatch as error:
                self._fail(
                    f"Could not resolve endpoint {endpoint!r}: {error}\n"
                    "Please provide a valid URL pattern name for the health check endpoint."
                )
            if options["use_http"]:
                code = self._ask_server(endpoint, path, options)
            else:
                code = self._read_snapshots(endpoint, path, options)
        # Healthy returns normally, as django-health-check's command does, so call_command() from code
        # and tests raises nothing; the process still exits 0. Anything else exits 1 or 2.
        if code != EXIT_HEALTHY:
            sys.exit(code)

    def _fail(self, message: str) -> NoReturn:
        self.stderr.write(message)
        sys.exit(EXIT_UNKNOWN)

    def _read_snapshots(self, endpoint: str, path: str, options: dict[str, Any]) -> int:
        from health_check.views import HealthCheckEndpoint

        try:
            view = resolve(path).func
        except Resolver404:
            self._fail(f"{path!r} (endpoint {endpoint!r}) does not resolve to a view.")
        if not isinstance(view, HealthCheckEndpoint):
            self._fail(f"Endpoint {endpoint!r} at {path!r} is not a HealthCheckView; --no-http needs one.")
        try:
            # The endpoint's own keys: a shared store that is down fails here, not only a missing directory.
            specs, _ = view.view.get_check_specs()
            get_store().read(tuple(spec.key for spec in specs))
        except StoreError as error:
            self._fail(f"Cannot read the health check snapshots: {error}")
        return self._write_report(self._subset(view.view.get_report(), options))

    def _answer_from_index(self, endpoint: str, options: dict[str, Any]) -> int | None:
        """The answer from the poller's endpoint index, without importing the URLconf.

        ``None`` when the index cannot give exactly the URLconf's answer: none in the store, no entry
        for this name, written by other code or settings, or a store that does not answer (the
        URLconf's path then says what is wrong with it, as it always did).
        """
        try:
            store = get_store()
            entry, why = lookup(store.read_index(), endpoint, store.host_id)
            if entry is None:
                logger.debug("manage.py health_check %s --no-http imports the URLconf: %s", endpoint, why)
                return None
            mark = drain_key(store.host_id) if entry.readiness else None
            found = store.read((*entry.keys, mark) if mark else entry.keys)
        except StoreError:
            return None
        config = get_config()
        timestamp = time.time()
        now = datetime.datetime.fromtimestamp(timestamp, datetime.UTC)
        drain = active_drain(found.get(mark), timestamp) if mark else None
        readings = endpoint_readings(
            entry.checks,
            entry.errors,
            found,
            now,
            stale_intervals=float(config["STALE_AFTER_INTERVALS"]),
            drain=drain,
        )
        # As the endpoint decides (Responder._warnings_as_errors): its own argument, else the setting.
        warnings_as_errors = (
            bool(config["WARNINGS_AS_ERRORS"]) if entry.warnings_as_errors is None else entry.warnings_as_errors
        )
        return self._write_report(
            self._subset(Report(tuple(readings), now, warnings_as_errors=warnings_as_errors), options)
        )

    def _write_report(self, report: Report) -> int:
        for reading in report.readings:
            self.stdout.write(f"{reading.name}: {reading.message}")
        return EXIT_FAILING if report.failing else EXIT_HEALTHY

    def _subset(self, report: Report, options: dict[str, Any]) -> Report:
        """The readings ``--check``/``--exclude`` keep, as the endpoint's ``?check=``/``?exclude=`` would."""
        if not options["check"] and not options["exclude"]:
            return report
        try:
            indexes = select(reading_names(report.readings), options["check"], options["exclude"])
        except SubsetError as error:
            self._fail(error.describe(show_names=True).removeprefix("Bad Request: "))
        return dataclasses.replace(report, readings=tuple(report.readings[index] for index in indexes))

    @staticmethod
    def _failing_codes(path: str) -> set[int]:
        """The codes the endpoint answers a failing report with: 500, 503 and its ``status_codes=``."""
        codes = {500, 503}
        try:
            responder = getattr(resolve(path).func, "responder", None)
        except Resolver404:
            return codes
        if responder is not None:
            mapped = responder.status_codes
            codes |= {code for key, code in mapped.codes.items() if key != "ok" and code != mapped.codes["ok"]}
        return codes

    def _ask_server(self, endpoint: str, path: str, options: dict[str, Any]) -> int:
        addrport = options["addrport"]
        proto = "https" if settings.SECURE_SSL_REDIRECT and not settings.USE_X_FORWARDED_HOST else "http"
        query = urllib.parse.urlencode(
            [("check", name) for name in options["check"]] + [("exclude", name) for name in options["exclude"]]
        )
        url = f"{proto}://{addrport}{path}" + (f"?{query}" if query else "")
        headers = {"Accept": "text/plain"}
        if options["forwarded_host"]:
            headers["X-Forwarded-Host"] = options["forwarded_host"]
        if options["forwarded_proto"]:
            headers["X-Forwarded-Proto"] = options["forwarded_proto"]
        token = options["auth_token"] or get_config()["AUTH_TOKEN"]
        if token and not isinstance(token, str):
            token = token[0]  # tokens being rotated: the first is the one clients send
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if options["verbosity"] >= 2:
            shown = {k: ("Bearer ******" if k == "Authorization" else v) for k, v in headers.items()}
            self.stdout.write(f"Checking health endpoint at {url!r} with headers: {shown}")
        request = urllib.request.Request(url, headers=headers)  # noqa: S310 - the URL is built from our own setting
        try:
            with urllib.request.urlopen(request, timeout=options["timeout"]) as response:  # noqa: S310
                self.stdout.write(response.read(_MAX_BODY).decode("utf-8", "replace"), ending="")
                return EXIT_HEALTHY
        except urllib.error.HTTPError as error:
            if error.code in self._failing_codes(path):
                self.stdout.write(error.read(_MAX_BODY).decode("utf-8", "replace"), ending="")
                return EXIT_FAILING
            body = error.read(_MAX_BODY).decode("utf-8", "replace") if error.code == 400 else ""
            if error.code == 400 and body.startswith("Bad Request: "):  # ours: --check/--exclude naming no check
                self.stderr.write(body.removeprefix("Bad Request: "))
            elif error.code == 400:
                self.stderr.write(
                    f"{url!r} is not reachable: {error.reason}\n"
                    "Please check your ALLOWED_HOSTS setting or use the --forwarded-host option."
                )
            elif error.code == 403:
                self.stderr.write(
                    f"{url!r} requires authentication. Provide a token with --auth-token or set the "
                    "HEALTH_CHECK_AUTH_TOKEN setting."
                )
            else:
                self.stderr.write(
                    f"Unexpected HTTP error when trying to reach {url!r}: {error}\n"
                    f"You may have selected an invalid endpoint {endpoint!r} or another application is running "
                    f"on {addrport!r}."
                )
            return EXIT_UNKNOWN
        except urllib.error.URLError as error:
            reason = error.reason
            if isinstance(reason, TimeoutError):
                self.stderr.write(f"Timeout when trying to reach {url!r} after {options['timeout']:g} s")
            else:
                self.stderr.write(
                    f"{url!r} is not reachable: {reason}\nPlease check your server is running and reachable."
                )
            return EXIT_UNKNOWN
        except TimeoutError as error:
            self.stderr.write(f"Timeout when trying to reach {url!r}: {error}")
            return EXIT_UNKNOWN
        except OSError as error:
            # e.g. http.client.RemoteDisconnected: urllib wraps connection errors only, not the response's.
            self.stderr.write(f"{url!r} is not reachable: {error}\nPlease check your server is running and reachable.")
            return EXIT_UNKNOWN
