"""Small checks for URL scenarios: ``Sample`` is only ever read from snapshots, ``Steady`` always passes."""

from __future__ import annotations

import dataclasses

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
