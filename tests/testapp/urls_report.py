"""An endpoint whose clock stands at 2030-01-31 00:00 UTC, for reports over a scripted month (tests/test_uptime.py)."""

import datetime

from django.urls import path

from health_check.views import HealthCheckView
from tests.testapp.probes import Sample

NOW = datetime.datetime(2030, 1, 31, tzinfo=datetime.UTC)

urlpatterns = [
    path(
        "report/",
        HealthCheckView.as_view(checks=[Sample("alpha"), Sample("beta")], clock=lambda: NOW),
        name="report",
    ),
]
