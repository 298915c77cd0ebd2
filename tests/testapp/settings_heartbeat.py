"""Test settings for a live server (poller started in it) and command subprocesses that beat heartbeats.

Environment: ``HEALTH_SNAPSHOT_STORE_DIR`` (diskcache store directory, required), ``HEALTH_SNAPSHOT_HEARTBEAT_TOKEN``
(``HEALTH_CHECK["HEARTBEAT_TOKEN"]``, optional).
"""

import os

from tests.testapp.settings_diskcache import *  # noqa: F403
from tests.testapp.settings_diskcache import HEALTH_CHECK

ROOT_URLCONF = "tests.testapp.urls_heartbeat"
HEALTH_CHECK = {
    **HEALTH_CHECK,
    "POLLER_AUTOSTART": True,
    "POLL_JITTER": 0,
    "HEARTBEAT_TOKEN": os.environ.get("HEALTH_SNAPSHOT_HEARTBEAT_TOKEN") or None,
}
