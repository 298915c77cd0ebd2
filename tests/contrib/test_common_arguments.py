"""Every check, core or contrib, validates the keyword arguments all checks share (HealthCheck's)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import redis

from health_check.base import HealthCheck
from health_check.checks import DNS, Cache, Database, Mail, Storage
from health_check.contrib.atlassian import GitHub, PyPI
from health_check.contrib.psutil import CPU, Disk, Memory
from health_check.contrib.redis import Redis
from health_check.contrib.rss import AWS, Feed
from health_check.remote import RemoteCheck

CONSTRUCTORS: dict[str, Callable[..., HealthCheck]] = {
    "Cache": Cache,
    "Database": Database,
    "DNS": DNS,
    "Mail": Mail,
    "Storage": Storage,
    "RemoteCheck": lambda **kwargs: RemoteCheck("http://127.0.0.1:9/health/", **kwargs),
    "CPU": CPU,
    "Disk": Disk,
    "Memory": Memory,
    "Redis": lambda **kwargs: Redis(client_factory=lambda: redis.Redis(host="127.0.0.1"), **kwargs),
    "GitHub": GitHub,
    "PyPI": PyPI,
    "AWS": lambda **kwargs: AWS(region="eu-west-1", service="s3", **kwargs),
    "Feed": lambda **kwargs: Feed(feed_url="http://127.0.0.1:9/feed.xml", **kwargs),
}


@pytest.mark.parametrize("name", sorted(CONSTRUCTORS))
def test_check__rejects_invalid_scope(name):
    """A check given scope="bogus" raises ValueError naming the valid scopes, whatever its class."""
    with pytest.raises(ValueError) as caught:
        CONSTRUCTORS[name](scope="bogus")
    assert str(caught.value) == "scope is 'bogus', expected one of 'host', 'fleet'"


@pytest.mark.parametrize("name", sorted(CONSTRUCTORS))
def test_check__rejects_zero_failure_threshold(name):
    """A check given failure_threshold=0 raises ValueError naming both thresholds, whatever its class."""
    with pytest.raises(ValueError) as caught:
        CONSTRUCTORS[name](failure_threshold=0)
    assert str(caught.value) == "failure_threshold (0) and success_threshold (1) must be at least 1"
