"""An endpoint with a mistyped ``status_codes=`` (system check E006)."""

from django.urls import path

from health_check.views import HealthCheckView

urlpatterns = [
    path(
        "bad/", HealthCheckView.as_view(checks=["tests.testapp.probes.Steady"], status_codes={"eror": 503}), name="bad"
    ),
]
