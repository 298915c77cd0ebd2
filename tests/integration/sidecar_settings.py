"""The example project's settings with the poller as a separate process, as the recipes deploy it.

The web processes start no poller (``manage.py health_check_poller`` runs beside them), and a snapshot
is stale after one missed interval instead of three, so a test that pauses the poller sees the node
tier fail after about 10 s (5 s interval + 5 s timeout) rather than 20 s.
"""

from example_project.settings import *  # noqa: F403 - the example's settings, unchanged otherwise
from example_project.settings import HEALTH_CHECK

HEALTH_CHECK = {**HEALTH_CHECK, "POLLER_AUTOSTART": False, "STALE_AFTER_INTERVALS": 1}
