"""An endpoint with misconfigured ``checks=`` entries: it must keep serving and system checks name them."""

from django.urls import path

from health_check.views import HealthCheckView
from tests.testapp.probes import Sample

urlpatterns = [
    path(
        "health/broken/",
        HealthCheckView.as_view(
            checks=[
                Sample("alpha"),
                "tests.testapp.no_such_module.Check",
                ("tests.testapp.probes.Sample", {}),
            ]
        ),
        name="health_check-broken",
    ),
]
