"""The example's Celery app: ``celery -A example_project worker`` runs a worker for the Ping check."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example_project.settings")

app = Celery("example_project")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Celery's "current app" is per thread: make this one the default, so the poller's threads see it too.
app.set_default()
