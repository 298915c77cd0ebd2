"""One endpoint per heartbeat (each way a beat arrives has its own), and the beat view.

``max_interval`` is 2 s so a test sees a beat arrive, turn late and arrive again in seconds; the check
polls every 0.2 s so what the endpoint shows follows within a fraction of that.
"""

import datetime

from django.urls import path

from health_check.heartbeat_view import HeartbeatView
from health_check.views import HealthCheckView

#: The heartbeats of this URLconf, one per way a beat arrives.
NAMES = ("via-python", "via-command", "via-http")
MAX_INTERVAL = datetime.timedelta(seconds=2)


def heartbeat(name: str) -> tuple[str, dict]:
    return (
        "health_check.contrib.heartbeat.Heartbeat",
        {"name": name, "max_interval": MAX_INTERVAL, "poll_interval": datetime.timedelta(seconds=0.2)},
    )


#: Polled once a minute: a beat must still show within seconds (the poller's watch of beats).
SLOW = ("health_check.contrib.heartbeat.Heartbeat", {"name": "slow", "max_interval": datetime.timedelta(hours=25)})

urlpatterns = [
    *(path(f"health/{name}/", HealthCheckView.as_view(checks=[heartbeat(name)]), name=name) for name in NAMES),
    path("health/slow/", HealthCheckView.as_view(checks=[SLOW]), name="slow"),
    path("heartbeat/<str:name>/", HeartbeatView.as_view(), name="heartbeat"),
    path("tiny/<str:name>/", HeartbeatView.as_view(max_body_bytes=64, names=["via-http"]), name="heartbeat-tiny"),
]
