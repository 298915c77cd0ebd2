"""Settings of the test project: SQLite, locmem cache, memory store, no autostarted poller."""

import os
import tempfile

import django

BASE_DIR = os.path.dirname(os.path.abspath(__file__))
SECRET_KEY = "tests-only"
DEBUG = False
ALLOWED_HOSTS = ["*"]
USE_TZ = True
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "health_check",
    "tests.testapp",
]
MIDDLEWARE = []
ROOT_URLCONF = "tests.testapp.urls"
# The test database is a file of this process's own: SQLite ignores close() on an in-memory database,
# so the connection a check's thread opens would be left to the garbage collector, which Python 3.13
# reports as an unclosed sqlite3.Connection (ResourceWarning, an error here).
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.path.join(tempfile.gettempdir(), "hs-tests.sqlite3"),
        "TEST": {"NAME": os.path.join(tempfile.mkdtemp(prefix="hs-testdb-"), "test.sqlite3")},
    }
}
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
TEMPLATES = [{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True}]
if django.VERSION >= (6, 1):
    # Django 6.1 deprecates EMAIL_BACKEND and the other EMAIL_* settings for MAILERS (a warning,
    # which pyproject turns into an error); a site on 6.1 configures mail this way.
    MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
else:
    EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
STORAGES = {
    "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": tempfile.mkdtemp(prefix="hs-media-")},
    },
}
HEALTH_CHECK = {"STORE": "memory", "POLLER_AUTOSTART": False}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
