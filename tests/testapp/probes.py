"""Small checks for URL scenarios: ``Sample`` is only ever read from snapshots, ``Steady`` always passes."""

from __future__ import annotations

import dataclasses
import os

from health_check.base import HealthCheck
from health_check.exceptions import ServiceUnavailable


@dataclasses.dataclass
class Sample(HealthCheck):
    """A named check whose snapshots tests write directly; running it means a view ran a check.

    Args:
        label: Tells samples apart in outputs and labels.
    """

    label: str

    def run(self) -> None:
        raise ServiceUnavailable(f"Sample {self.label!r} was run; views must only read snapshots")


@dataclasses.dataclass
class Steady(HealthCheck):
    """Always healthy, so a live-server test that needs exit code 0 does not depend on the host's load."""

    def run(self) -> None:
        return None


@dataclasses.dataclass
class Switch(HealthCheck):
    """Fails while the file at ``path`` exists: a live-server test turns an outage on and off.

    Args:
        label: Its name in outputs.
        path: The switch file (hidden from ``repr``, so the name stays short).
    """

    label: str = "db"
    path: str = dataclasses.field(default="", repr=False)

    def run(self) -> None:
        if self.path and os.path.exists(self.path):
            raise ServiceUnavailable(f"{self.label} switched off")
