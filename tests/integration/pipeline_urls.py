"""The example's node and pipeline tiers, with the providers pointed at a local fake (``FAKE_UPSTREAM_URL``).

The pipeline tier is built as in ``example_project/example_project/urls.py`` (GitHub Actions, Cloudflare,
AWS S3 in eu-west-1 after the application checks) with two differences a feed-reader test needs:

- every provider reads ``FAKE_UPSTREAM_URL/<provider>/...`` (``base_url=``) and is polled every second
  instead of every 5 minutes, so an outage the test stages shows up within seconds;
- the application part is the Django built-ins only, so no Redis, RabbitMQ or Celery worker is needed.
"""

import datetime
import os

from django.urls import include, path

from health_check.views import HealthCheckView

UPSTREAM = os.environ["FAKE_UPSTREAM_URL"].rstrip("/")
POLL = {"poll_interval": datetime.timedelta(seconds=1)}

node_checks = [
    "health_check.contrib.psutil.CPU",
    "health_check.contrib.psutil.Memory",
    "health_check.contrib.psutil.Disk",
]

application_checks = [
    ("health_check.Cache", POLL),
    ("health_check.Database", POLL),
    ("health_check.Mail", POLL),
    ("health_check.Storage", POLL),
]

pipeline_checks = [
    *application_checks,
    ("health_check.contrib.atlassian.GitHub", {"component": "Actions", "base_url": f"{UPSTREAM}/github", **POLL}),
    ("health_check.contrib.atlassian.Cloudflare", {"base_url": f"{UPSTREAM}/cloudflare", **POLL}),
    ("health_check.contrib.rss.AWS", {"region": "eu-west-1", "service": "s3", "base_url": f"{UPSTREAM}/aws", **POLL}),
]

urlpatterns = [
    path(
        f"health/{os.environ['HEALTH_CHECK_SECRET']}/",
        include(
            [
                path("node/", HealthCheckView.as_view(checks=node_checks), name="health_check-node"),
                path("pipeline/", HealthCheckView.as_view(checks=pipeline_checks), name="health_check-pipeline"),
            ]
        ),
    ),
]
