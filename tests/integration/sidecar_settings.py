"""The example project's settings with the poller as a separate process, as the recipes deploy it.

- The web processes start no poller: ``manage.py health_check_poller`` runs beside them, and a test can
  freeze it.
- A snapshot is stale after one missed interval instead of three, so the node tier fails about 10 s
  (5 s interval + 5 s timeout) after the poller stops rather than 20 s.
- Warnings answer 200: the CPU check warns at 80 %, which a shared 2-core test machine reaches whenever
  other tests run. The failures these tests drive (stale, pending) still answer 500.
"""

from example_project.settings import *  # noqa: F403 - the example's settings, unchanged otherwise
from example_project.settings import HEALTH_CHECK

HEALTH_CHECK = {**HEALTH_CHECK, "POLLER_AUTOSTART": False, "STALE_AFTER_INTERVALS": 1, "WARNINGS_AS_ERRORS": False}
