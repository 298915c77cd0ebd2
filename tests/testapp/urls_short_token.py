"""An endpoint with a short ``auth_token`` (system check W004)."""

from django.urls import path

from health_check.views import HealthCheckView

urlpatterns = [
    path("short/", HealthCheckView.as_view(checks=["tests.testapp.probes.Steady"], auth_token="abcde"), name="short"),
]
