"""django-health-snapshot: django-health-check's API, answered from snapshots a background poller takes."""

from health_check._version import __version__
from health_check.base import HealthCheck
from health_check.checks import DNS, Cache, Database, Mail, Storage
from health_check.remote import RemoteCheck

VERSION = tuple(int(part) for part in __version__.split(".")[:3])

__all__ = ["DNS", "VERSION", "Cache", "Database", "HealthCheck", "Mail", "RemoteCheck", "Storage", "__version__"]
