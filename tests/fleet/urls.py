"""One host-scoped check that says which host ran it, and one fleet-scoped upstream status page."""

import dataclasses
import datetime
import os

from django.urls import path

from health_check.base import HealthCheck
from health_check.contrib.atlassian import AtlassianStatusPage
from health_check.exceptions import ServiceWarning
from health_check.views import HealthCheckView


@dataclasses.dataclass
class WhoAmI(HealthCheck):
    """Warns with the identity of the host whose poller ran it: readers see whose snapshot they got."""

    default_poll_interval = datetime.timedelta(seconds=0.5)

    def run(self) -> None:
        raise ServiceWarning(f"polled on {os.environ['HS_FLEET_HOST']}")


@dataclasses.dataclass
class FakeProvider(AtlassianStatusPage):
    """A Statuspage provider served by the test's fake upstream, polled every second."""

    timeout: datetime.timedelta = dataclasses.field(default=datetime.timedelta(seconds=1), repr=False)


urlpatterns = [
    path("health/node/", HealthCheckView.as_view(checks=[WhoAmI])),
    path(
        "health/upstream/",
        HealthCheckView.as_view(
            checks=[
                (
                    FakeProvider,
                    {"base_url": os.environ["HS_FLEET_UPSTREAM"], "poll_interval": datetime.timedelta(seconds=1)},
                )
            ]
        ),
    ),
]
