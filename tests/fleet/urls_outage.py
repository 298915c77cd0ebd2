"""Checks for the Redis outage tests: one host-scoped, one fleet-scoped, on the interval the test sets."""

import dataclasses
import datetime
import os
from typing import ClassVar

from django.urls import path

from health_check.base import HealthCheck
from health_check.views import HealthCheckView

INTERVAL = datetime.timedelta(seconds=float(os.environ.get("HS_OUTAGE_INTERVAL", "30")))


@dataclasses.dataclass
class HostSteady(HealthCheck):
    """Always OK, polled on every host."""

    default_poll_interval = INTERVAL

    def run(self) -> None:
        return None


@dataclasses.dataclass
class FleetSteady(HealthCheck):
    """Always OK, polled by the fleet's leader only (like an upstream status page)."""

    default_poll_interval = INTERVAL
    default_scope: ClassVar[str] = "fleet"

    def run(self) -> None:
        return None


urlpatterns = [
    path("health/node/", HealthCheckView.as_view(checks=[HostSteady])),
    path("health/upstream/", HealthCheckView.as_view(checks=[FleetSteady])),
    path("health/both/", HealthCheckView.as_view(checks=[HostSteady, FleetSteady])),
]
