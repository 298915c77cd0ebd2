"""Test settings for live servers and command subprocesses: a diskcache store shared between processes.

Environment: ``HEALTH_SNAPSHOT_STORE_DIR`` (store directory, required), ``HEALTH_SNAPSHOT_AUTOSTART``
("1" starts the poller in the server), ``HEALTH_SNAPSHOT_AUTH_TOKEN`` (bearer token, optional; tokens being rotated separated by commas).
"""

import datetime
import os

from tests.testapp.settings import *  # noqa: F403

_TOKENS = os.environ.get("HEALTH_SNAPSHOT_AUTH_TOKEN", "")

HEALTH_CHECK = {
    "STORE": "diskcache",
    "STORE_LOCATION": os.environ["HEALTH_SNAPSHOT_STORE_DIR"],
    "POLLER_AUTOSTART": os.environ.get("HEALTH_SNAPSHOT_AUTOSTART") == "1",
    "AUTH_TOKEN": _TOKENS.split(",") if "," in _TOKENS else _TOKENS or None,
    # Election tests kill and stop pollers: a short retry makes takeovers quick.
    "ELECTION_RETRY": datetime.timedelta(seconds=0.2),
}
