"""``manage.py health_check_report <url-name> [--days 30] [--csv]``: an endpoint's uptime, for an SLA report.

Reads the snapshot store and the journal (no check runs, no server is asked) and prints, for the
endpoint and each of its checks, the share of the last ``--days`` days spent ok, warning, error and
stale or pending, the time nobody knows about (before the first observation, or older than the
journal keeps: ``JOURNAL_MAX_AGE``, 30 days by default), the uptime over the known time, the number of
incidents and the longest outage. ``--csv`` writes the same as CSV (fractions, seconds) for a
spreadsheet.

Exit codes: 0 the report was written; 2 the endpoint or the store could not be read.
"""

from __future__ import annotations

import csv
import datetime
import sys
from typing import Any, NoReturn

from django.core.management.base import BaseCommand, CommandParser
from django.urls import NoReverseMatch, Resolver404, resolve, reverse

from health_check._time import describe_age
from health_check.store import StoreError
from health_check.uptime import BUCKETS, Uptime

#: Longest report: a year; the journal rarely holds more.
MAX_DAYS = 366
COLUMNS = ("check", *BUCKETS, "uptime", "incidents", "longest_outage_seconds")


class Command(BaseCommand):
    help = "Print an endpoint's uptime over the last --days days (default 30), from the journal; --csv for CSV."

    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("endpoint", help="URL pattern name of the health check endpoint, e.g. health_check-node")
        parser.add_argument("--days", type=int, default=30, help="How many days back, 1 to 366 (default: 30)")
        parser.add_argument("--csv", action="store_true", help="Write CSV (fractions and seconds) instead of a table")

    def handle(self, *args: Any, **options: Any) -> None:
        from health_check.views import HealthCheckEndpoint

        endpoint, days = options["endpoint"], options["days"]
        if not 1 <= days <= MAX_DAYS:
            self._fail(f"--days must be from 1 to {MAX_DAYS}, got {days}.")
        try:
            view = resolve(reverse(endpoint)).func
        except (NoReverseMatch, Resolver404) as error:
            self._fail(f"Could not resolve endpoint {endpoint!r}: {error}")
        if not isinstance(view, HealthCheckEndpoint):
            self._fail(f"Endpoint {endpoint!r} is not a HealthCheckView.")
        window = f"{days}d"
        try:
            state, _ = view.responder.state()
            checks, overall = view.responder.uptime(state, {window: datetime.timedelta(days=days)})
        except StoreError as error:
            self._fail(f"Cannot read the health check journal: {error}")
        rows = [("endpoint", overall[window]), *((name, figures[window]) for name, figures in checks.items())]
        if options["csv"]:
            self._write_csv(rows)
        else:
            self._write_table(endpoint, days, state.report.generated_at, rows)

    def _fail(self, message: str) -> NoReturn:
        self.stderr.write(message)
        sys.exit(2)

    def _write_csv(self, rows: list[tuple[str, Uptime]]) -> None:
        writer = csv.writer(self.stdout, lineterminator="\n")
        writer.writerow(COLUMNS)
        for name, found in rows:
            figures = found.as_dict()
            writer.writerow([name, *(figures[column] if figures[column] is not None else "" for column in COLUMNS[1:])])

    def _write_table(self, endpoint: str, days: int, now: datetime.datetime, rows: list[tuple[str, Uptime]]) -> None:
        self.stdout.write(f"Uptime of {endpoint} over the last {days} days (until {now:%Y-%m-%d %H:%M} UTC)")
        header = (
            "",
            "uptime",
            "ok",
            "warning",
            "error",
            "stale/pending",
            "maintenance",
            "unknown",
            "incidents",
            "longest outage",
        )
        lines: list[tuple[str, ...]] = [header]
        for name, found in rows:
            shares = found.shares
            lines.append(
                (
                    name,
                    "–" if found.uptime is None else f"{found.uptime * 100:.3f} %",
                    *(f"{shares[bucket] * 100:.2f} %" for bucket in BUCKETS),
                    str(found.incidents),
                    describe_age(found.longest_outage_seconds) if found.longest_outage_seconds else "–",
                )
            )
        widths = [max(len(line[column]) for line in lines) for column in range(len(header))]
        for line in lines:
            self.stdout.write(
                "  ".join(
                    cell.ljust(width) if i == 0 else cell.rjust(width)
                    for i, (cell, width) in enumerate(zip(line, widths))
                ).rstrip()
            )
