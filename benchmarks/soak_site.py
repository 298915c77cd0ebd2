"""The site benchmarks/soak.py serves and polls: settings, URLs and one middleware in one module.

A fleet-mode host: Redis store (``HS_SOAK_REDIS``), a standalone ``health_check_poller``, three tiers
(node: Disk and Memory; application: the soak's own Redis; pipeline: a Statuspage served by the soak's
fake upstream at ``HS_SOAK_UPSTREAM``), polled every 2 s so faults show within seconds. Logging is
Django's production shape (``DEBUG=False``) with every WARNING and above on stderr, one line each, so
the soak can count what would reach a site's log or ADMINS' mailbox.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
from collections.abc import Callable
from typing import Any

import redis
from django.http import HttpRequest, HttpResponse
from django.urls import path

from health_check.contrib.atlassian import AtlassianStatusPage
from health_check.contrib.psutil import Disk, Memory
from health_check.contrib.redis import Redis
from health_check.views import HealthCheckView

SECRET_KEY = "soak-only"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1"]
USE_TZ = True
INSTALLED_APPS = ["django.contrib.contenttypes", "health_check"]
MIDDLEWARE = ["benchmarks.soak_site.worker_pid"]
ROOT_URLCONF = "benchmarks.soak_site"
DATABASES: dict[str, Any] = {}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
HEALTH_CHECK = {
    "STORE": os.environ.get("HS_SOAK_REDIS", "memory"),
    "STORE_LOCATION": os.environ.get("HS_SOAK_DIR", "/tmp/hs-soak"),  # noqa: S108 - set by the soak
    "HOST_ID": "soak-host",
    "POLLER_AUTOSTART": False,
}
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"line": {"format": "%(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "line"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}

INTERVAL = datetime.timedelta(seconds=2)
_REDIS_URL = HEALTH_CHECK["STORE"]


def worker_pid(get_response: Callable[[HttpRequest], HttpResponse]) -> Callable[[HttpRequest], HttpResponse]:
    """Say which gunicorn worker answered, so the soak can compare the workers' feeds."""

    def middleware(request: HttpRequest) -> HttpResponse:
        response = get_response(request)
        response["X-Soak-Worker"] = str(os.getpid())
        return response

    return middleware


@dataclasses.dataclass
class Statuspage(AtlassianStatusPage):
    """The soak's fake Statuspage, with a 3 s budget so a 20 s hang fails a run in seconds."""

    timeout: datetime.timedelta = dataclasses.field(default=datetime.timedelta(seconds=3), repr=False)


def _redis_client() -> redis.Redis:
    return redis.Redis.from_url(_REDIS_URL, socket_connect_timeout=1, socket_timeout=1)


urlpatterns = [
    path(
        "health/node/",
        HealthCheckView.as_view(checks=[(Disk, {"poll_interval": INTERVAL}), (Memory, {"poll_interval": INTERVAL})]),
    ),
    path(
        "health/application/",
        HealthCheckView.as_view(checks=[(Redis, {"client_factory": _redis_client, "poll_interval": INTERVAL})]),
    ),
    path(
        "health/pipeline/",
        HealthCheckView.as_view(
            checks=[
                (
                    Statuspage,
                    {
                        "base_url": os.environ.get("HS_SOAK_UPSTREAM", "http://127.0.0.1:9"),
                        "poll_interval": INTERVAL,
                    },
                )
            ]
        ),
    ),
]
