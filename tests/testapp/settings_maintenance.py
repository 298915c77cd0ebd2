"""A live server whose one check a test switches off (``HEALTH_SNAPSHOT_SWITCH``), over a diskcache store
in ``HEALTH_SNAPSHOT_STORE_DIR`` with the poller started in the server; ``HEALTH_SNAPSHOT_CONFIG`` as in
settings_store."""

from tests.testapp.settings_store import *  # noqa: F403

ROOT_URLCONF = "tests.testapp.urls_maintenance"
