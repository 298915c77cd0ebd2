"""URLconfs for ``health_check_poller`` command tests: one healthy and one failing check, and none at all."""

import dataclasses

from django.http import HttpResponse
from django.urls import path

from health_check.base import HealthCheck
from health_check.exceptions import ServiceUnavailable
from health_check.views import HealthCheckView


@dataclasses.dataclass
class Refused(HealthCheck):
    def run(self) -> None:
        raise ServiceUnavailable("connection refused by queue:5672")


urlpatterns = [
    path("health/", HealthCheckView.as_view(checks=["tests.testapp.probes.Steady"])),
    path("health/queue/", HealthCheckView.as_view(checks=[Refused])),
]


class NoChecks:
    urlpatterns = [path("bare/", lambda request: HttpResponse("ok"))]
