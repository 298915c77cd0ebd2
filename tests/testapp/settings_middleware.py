"""A live server as ``startproject`` sets one up: SecurityMiddleware and CommonMiddleware (which adds
Content-Length), the view scenarios' URLs, and a diskcache store the test process writes snapshots into.

Environment: ``HEALTH_SNAPSHOT_STORE_DIR`` (store directory, required).
"""

from tests.testapp.settings_diskcache import *  # noqa: F403

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
]
ROOT_URLCONF = "tests.testapp.urls_views"
