"""Settings of the test project: SQLite, locmem cache, memory store, no autostarted poller."""

import os
import tempfile

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
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.path.join(tempfile.gettempdir(), "hs-tests.sqlite3")}}
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
TEMPLATES = [{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True}]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": tempfile.mkdtemp(prefix="hs-media-")}},
}
HEALTH_CHECK = {"STORE": "memory", "POLLER_AUTOSTART": False}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
