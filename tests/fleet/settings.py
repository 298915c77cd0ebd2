"""Settings of one pretend host of a fleet: the test project with a Redis store and this host's identity.

The environment says which Redis, which host, which fake upstream, and how short the lease is.
"""

import datetime
import os

from tests.testapp.settings import *  # noqa: F403

ROOT_URLCONF = "tests.fleet.urls"
HEALTH_CHECK = {
    "STORE": os.environ["HS_FLEET_REDIS"],
    "STORE_LOCATION": os.environ["HS_FLEET_DIR"],
    "HOST_ID": os.environ["HS_FLEET_HOST"],
    "POLLER_AUTOSTART": False,
    "ELECTION_LEASE": datetime.timedelta(seconds=float(os.environ.get("HS_FLEET_LEASE", "2"))),
    "ELECTION_RETRY": datetime.timedelta(seconds=0.2),
    # The node check below warns on purpose (its message names the host): warnings answer 200 here.
    "WARNINGS_AS_ERRORS": False,
}
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {
        "scheduler": {"handlers": ["console"], "level": "INFO"},
        "health_check": {"handlers": ["console"], "level": "INFO"},
    },
}
