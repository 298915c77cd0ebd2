"""Settings of the example project: everything embedded, nothing to install or start besides Python.

SQLite, the local-memory cache, the console mail backend, files under ``example_project/media`` and
the default diskcache snapshot store. Environment variables only move things around:

- ``ALLOWED_HOSTS``: comma-separated, default ``localhost,127.0.0.1,[::1]``.
- ``HEALTH_CHECK_SECRET``: the path segment of the health endpoints, default ``dev``.
- ``HEALTH_CHECK_STORE_LOCATION``: the snapshot directory, default ``example_project/.health-snapshots``.
- ``HEALTH_CHECK_STORE``: ``redis://host:6379/0`` for a fleet sharing one Redis (docs/fleet.md); default diskcache.
- ``HEALTH_CHECK_POLLER_SCOPES``: with Redis, ``host`` leaves fleet checks to a dedicated poller; default both.
- ``EXAMPLE_DATA_DIR``: where ``db.sqlite3`` and ``media/`` go, default ``example_project/``.
- ``DJANGO_DEBUG``: ``1`` turns DEBUG on.
"""

import os
from pathlib import Path

import django

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.getenv("EXAMPLE_DATA_DIR", str(BASE_DIR)))

# A development key: this project is an example, never deploy it as is.
SECRET_KEY = os.getenv("DJANGO_SECRET_KEY", "example-project-not-secret")
DEBUG = os.getenv("DJANGO_DEBUG", "0") == "1"
ALLOWED_HOSTS = [
    host.strip() for host in os.getenv("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]").split(",") if host.strip()
]

INSTALLED_APPS = [
    "django.contrib.staticfiles",
    "health_check",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
]
ROOT_URLCONF = "example_project.urls"
WSGI_APPLICATION = "example_project.wsgi.application"
ASGI_APPLICATION = "example_project.asgi.application"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
    }
]

DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": DATA_DIR / "db.sqlite3"}}
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# The console backend opens no connection, so health_check.Mail passes without an SMTP server.
if django.VERSION >= (6, 1):  # Django 6.1 configures mail through MAILERS (EMAIL_BACKEND is deprecated)
    MAILERS = {"default": {"BACKEND": "django.core.mail.backends.console.EmailBackend"}}
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"

# Celery (the application tier's Ping check asks its workers); RabbitMQ on this host by default.
CELERY_BROKER_URL = os.getenv("CELERY_BROKER_URL", "amqp://guest:guest@localhost:5672//")
STORAGES = {
    "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": DATA_DIR / "media"},
    },
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
STATIC_URL = "static/"

USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

HEALTH_CHECK = {
    # One diskcache directory per host shared by every server process; one of them polls.
    # A redis:// URL shares snapshots across hosts instead (docs/fleet.md).
    "STORE": os.getenv("HEALTH_CHECK_STORE", "diskcache"),
    "POLLER_SCOPES": tuple(os.getenv("HEALTH_CHECK_POLLER_SCOPES", "host,fleet").split(",")),
    "STORE_LOCATION": os.getenv("HEALTH_CHECK_STORE_LOCATION", str(BASE_DIR / ".health-snapshots")),
    # Start the poller inside runserver, gunicorn or uvicorn; management commands never start it.
    "POLLER_AUTOSTART": True,
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {
        "health_check": {"handlers": ["console"], "level": "INFO"},
        "scheduler": {"handlers": ["console"], "level": "INFO"},
    },
}
