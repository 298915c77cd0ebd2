"""The application tier on a Redis of the test's own (``HEALTH_SNAPSHOT_REDIS_URL``): the Redis check and
two caches on it that depend on it, each polled every 0.3 s."""

import datetime
import os

import redis
from django.urls import path

from health_check.views import HealthCheckView

URL = os.environ.get("HEALTH_SNAPSHOT_REDIS_URL", "redis://127.0.0.1:1/0")
FAST = datetime.timedelta(milliseconds=300)


def client() -> redis.Redis:
    return redis.Redis.from_url(URL, socket_connect_timeout=0.5, socket_timeout=0.5)


checks = [
    ("health_check.contrib.redis.Redis", {"client_factory": client, "poll_interval": FAST}),
    ("health_check.Cache", {"alias": "default", "poll_interval": FAST, "depends_on": ["Redis"]}),
    ("health_check.Cache", {"alias": "sessions", "poll_interval": FAST, "depends_on": ["Redis"]}),
]

urlpatterns = [path("health/app/", HealthCheckView.as_view(checks=checks), name="health_check-app")]
