"""One URL per view scenario (tests/test_views.py): the same three samples behind different view options."""

import datetime

from django.urls import path

from health_check.views import HealthCheckView
from tests.testapp.probes import Sample

SAMPLES = [Sample("alpha"), Sample("beta"), Sample("gamma")]
TOKEN = "s3cret-token-9f2"

urlpatterns = [
    path("health/", HealthCheckView.as_view(checks=SAMPLES), name="views-main"),
    path(
        "health/lenient/",
        HealthCheckView.as_view(checks=SAMPLES, warnings_as_errors=False),
        name="views-lenient",
    ),
    path("health/token/", HealthCheckView.as_view(checks=SAMPLES, auth_token=TOKEN), name="views-token"),
    path(
        "health/anonymous/",
        HealthCheckView.as_view(
            checks=SAMPLES, auth_token=TOKEN, allow_anonymous=True, max_age=datetime.timedelta(seconds=30)
        ),
        name="views-anonymous",
    ),
    path(
        "health/cached/",
        HealthCheckView.as_view(checks=SAMPLES, max_age=datetime.timedelta(seconds=60)),
        name="views-cached",
    ),
]

# Kubernetes-style probes (tests/test_status_codes.py, tests/test_drain.py): readiness answers 503 when
# something fails or the host drains; liveness is the plain view.
urlpatterns += [
    path(
        "health/ready/",
        HealthCheckView.as_view(checks=SAMPLES, readiness=True, status_codes={"warning": 200, "error": 503}),
        name="views-ready",
    ),
    path("health/live/", HealthCheckView.as_view(checks=SAMPLES), name="views-live"),
]
