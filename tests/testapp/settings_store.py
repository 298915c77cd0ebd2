"""Test settings for a live server whose ``HEALTH_CHECK`` comes from the environment, wrong or right.

``HEALTH_SNAPSHOT_CONFIG``: the ``HEALTH_CHECK`` dict as JSON (``{"STORE": "dsikcache"}``), merged
over a diskcache store in ``HEALTH_SNAPSHOT_STORE_DIR`` with the poller started in the server.
"""

import json
import os

from tests.testapp.settings import *  # noqa: F403

HEALTH_CHECK = {
    "STORE": "diskcache",
    "STORE_LOCATION": os.environ["HEALTH_SNAPSHOT_STORE_DIR"],
    "POLLER_AUTOSTART": True,
    **json.loads(os.environ.get("HEALTH_SNAPSHOT_CONFIG", "{}")),
}
# Every log line of ours at every level reaches the server's output, where the tests read it.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {
        "health_check": {"handlers": ["console"], "level": "DEBUG"},
        "scheduler": {"handlers": ["console"], "level": "DEBUG"},
    },
}
