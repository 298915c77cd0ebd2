"""The upstream incident: one record for what a provider reports, from the checks to the journal.

Statuspage and feed checks each find incidents their own way; both keep them in a snapshot's
details as the same JSON object (``DETAIL_FIELDS``), which the journal compares between runs to
tell a new, changed or ended incident. An incident is open until its status is one of
``CLOSED_STATUSES``.
"""

from __future__ import annotations

import dataclasses
import datetime
from typing import Any

from health_check._time import isoformat

__all__ = ["CLOSED_STATUSES", "DETAIL_FIELDS", "ERROR", "WARNING", "Incident", "is_closed"]

#: Statuses that end an incident: Statuspage's ``resolved`` and ``postmortem``, and ``completed``
#: (Statuspage maintenances, feed providers). Anything else, unknown statuses included, is open.
CLOSED_STATUSES = frozenset({"resolved", "postmortem", "completed"})
#: Keys of an incident in snapshot details and journal entries, in the order they are written.
DETAIL_FIELDS = ("id", "name", "impact", "status", "link", "started_at", "updated_at")
#: How much an incident weighs in its check's verdict: a warning, or an outage (fails with ``fail_on_outage``).
WARNING, ERROR = 1, 2


def is_closed(status: object) -> bool:
    """Whether ``status`` (any case, any type) ends an incident."""
    return isinstance(status, str) and status.strip().lower() in CLOSED_STATUSES


@dataclasses.dataclass(frozen=True, slots=True)
class Incident:
    """One incident or event a provider reports, as a check found it.

    The first six fields are in the order feed events always had, so an ``events()`` override that
    builds them positionally keeps working.

    Args:
        id: The provider's id of the incident (``None`` when it gave none).
        name: Its title.
        impact: ``none``, ``minor``, ``major``, ``critical``, ``maintenance`` (Statuspage), ``incident``
            (a feed item) or the provider's own word (AWS's ``Service disruption``).
        link: Where a person reads about it.
        started_at: When it began, aware.
        updated_at: Its latest update, aware.
        severity: ``WARNING`` or ``ERROR``: its weight in the verdict; not kept in the details.
        status: The provider's status word (``investigating``), ``open`` when it has none.
    """

    id: str | None
    name: str | None
    impact: str
    link: str | None
    started_at: datetime.datetime | None
    updated_at: datetime.datetime | None
    severity: int = WARNING
    status: str | None = "open"

    def details(self) -> dict[str, Any]:
        """The JSON object kept in snapshot details under ``incidents`` (keys ``DETAIL_FIELDS``)."""
        return {
            "id": self.id,
            "name": self.name,
            "impact": self.impact,
            "status": self.status,
            "link": self.link,
            "started_at": isoformat(self.started_at),
            "updated_at": isoformat(self.updated_at),
        }
