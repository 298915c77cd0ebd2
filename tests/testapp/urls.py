from django.http import HttpResponse
from django.urls import path

from health_check.views import HealthCheckView

node_checks = [
    "health_check.contrib.psutil.CPU",
    "health_check.contrib.psutil.Memory",
    "health_check.contrib.psutil.Disk",
]

urlpatterns = [
    path("bare/", lambda request: HttpResponse("ok"), name="bare"),
    path("health/node/", HealthCheckView.as_view(checks=node_checks), name="health_check-node"),
    path(
        "health/django/",
        HealthCheckView.as_view(checks=["health_check.Database", "health_check.Cache", "health_check.Storage"]),
        name="health_check-django",
    ),
]

# Always healthy once polled: live-server and command tests that need exit code 0 whatever the host load.
urlpatterns.append(
    path("health/steady/", HealthCheckView.as_view(checks=["tests.testapp.probes.Steady"]), name="health_check-steady")
)
