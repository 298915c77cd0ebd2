"""A live server that admits one host and redirects plain HTTP, with HealthCheckMiddleware first.

What a production site looks like to a kubelet probing the pod's IP: ``ALLOWED_HOSTS`` names the site,
``SECURE_SSL_REDIRECT`` is on, SecurityMiddleware and CommonMiddleware as ``startproject`` sets them.

Environment: ``HEALTH_SNAPSHOT_STORE_DIR`` (store directory, required), ``HEALTH_SNAPSHOT_BASE_URL``
(``HEALTH_CHECK["BASE_URL"]``, optional).
"""

import os

from tests.testapp.settings_diskcache import *  # noqa: F403
from tests.testapp.settings_diskcache import HEALTH_CHECK

ALLOWED_HOSTS = ["status.example.com"]
SECURE_SSL_REDIRECT = True
MIDDLEWARE = [
    "health_check.middleware.HealthCheckMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
]
ROOT_URLCONF = "tests.testapp.urls_hosts"
HEALTH_CHECK = {**HEALTH_CHECK, "BASE_URL": os.environ.get("HEALTH_SNAPSHOT_BASE_URL") or None}
