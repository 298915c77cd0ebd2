"""``manage.py health_check_beat <name> [--failed] [--message TEXT]``: a job says it ran.

For the end of a cron job or a shell script: ``backup.sh && python manage.py health_check_beat
nightly-backup || python manage.py health_check_beat nightly-backup --failed --message "backup.sh failed"``.
It records a beat of the ``Heartbeat`` check named ``<name>`` in the snapshot store and prints one line.

Exit codes: 0 the beat was recorded; 1 the arguments are wrong (the name); 2 the store could not be
written (the beat was not recorded: retry, or look at ``HEALTH_CHECK["STORE"]``).
"""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from health_check._time import isoformat
from health_check.heartbeat import MAX_MESSAGE_CHARS, beat
from health_check.store import StoreError, get_store


class Command(BaseCommand):
    help = "Record a beat of the Heartbeat check <name>: the job it watches has run (or failed, with --failed)."

    requires_system_checks: list[str] = []  # the end of a cron job: cheap, and never refused for a warning

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="The heartbeat's name, as in Heartbeat(name=...)")
        parser.add_argument(
            "--failed", action="store_true", help="The job failed: the check reports an error until the next beat"
        )
        parser.add_argument(
            "--message",
            default="",
            help=f"A short line for operators (at most {MAX_MESSAGE_CHARS} characters are kept)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        name = options["name"]
        try:
            store = get_store()
            recorded = beat(name, failed=options["failed"], message=options["message"], via="command", store=store)
        except ValueError as error:
            raise CommandError(str(error)) from None
        except StoreError as error:
            self.stderr.write(f"Beat of {name} not recorded: {error}")
            sys.exit(2)
        outcome = "failed" if recorded.failed else "ok"
        said = f": {recorded.message}" if recorded.message else ""
        self.stdout.write(f"Beat of {recorded.name} recorded ({outcome}) at {isoformat(recorded.at)}{said}")
