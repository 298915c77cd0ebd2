"""One endpoint whose check fails while ``HEALTH_SNAPSHOT_SWITCH`` (a file) exists, polled every 0.3 s."""

import datetime
import os

from django.urls import path

from health_check.views import HealthCheckView

SWITCH = (
    "tests.testapp.probes.Switch",
    {"path": os.environ.get("HEALTH_SNAPSHOT_SWITCH", ""), "poll_interval": datetime.timedelta(milliseconds=300)},
)

urlpatterns = [path("health/switch/", HealthCheckView.as_view(checks=[SWITCH]), name="health_check-switch")]
