"""A live server whose application tier runs on a Redis the test starts and kills
(``HEALTH_SNAPSHOT_REDIS_URL``), over a diskcache store in ``HEALTH_SNAPSHOT_STORE_DIR`` with the
poller started in the server."""

import os

from tests.testapp.settings_store import *  # noqa: F403

ROOT_URLCONF = "tests.testapp.urls_dependencies"
_REDIS = os.environ.get("HEALTH_SNAPSHOT_REDIS_URL", "redis://127.0.0.1:1/0")
_OPTIONS = {"socket_connect_timeout": 0.5, "socket_timeout": 0.5}
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": _REDIS, "OPTIONS": _OPTIONS},
    "sessions": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": _REDIS, "OPTIONS": _OPTIONS},
}
