"""ASGI entry point of the test project (served by uvicorn in tests)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.testapp.settings")
application = get_asgi_application()
