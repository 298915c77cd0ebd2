"""The fleet test settings with the outage tests' checks; ``HS_OUTAGE_AUTOSTART=1`` polls inside gunicorn."""

import os

from tests.fleet.settings import *  # noqa: F403
from tests.fleet.settings import HEALTH_CHECK

ROOT_URLCONF = "tests.fleet.urls_outage"
HEALTH_CHECK = {**HEALTH_CHECK, "POLLER_AUTOSTART": os.environ.get("HS_OUTAGE_AUTOSTART") == "1"}
