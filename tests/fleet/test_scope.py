"""Check scopes (host or fleet), host-qualified keys, and an election that loses its lease."""

from __future__ import annotations

import dataclasses
import datetime
import time

import pytest

from health_check.base import HealthCheck
from health_check.checks import Database
from health_check.contrib.atlassian import GitHub
from health_check.contrib.celery import Ping
from health_check.contrib.psutil import CPU
from health_check.contrib.rss import AWS
from health_check.identity import check_key
from health_check.recorder import store_runner
from health_check.remote import RemoteCheck
from health_check.specs import CheckSpec, resolve_entries
from scheduler.election import Election
from scheduler.poller import Poller
from tests.store.test_redis import redis_store


@pytest.mark.parametrize(
    ("check", "scope"),
    [
        (Database(), "host"),
        (CPU(), "host"),
        (GitHub(), "fleet"),
        (AWS("us-east-1", "ec2"), "fleet"),
        (Ping(), "fleet"),
        (RemoteCheck(url="http://other.example/health/"), "fleet"),
    ],
    ids=lambda value: type(value).__name__ if not isinstance(value, str) else value,
)
def test_scope__class_defaults(check, scope):
    """Connectivity and resources of this process are host-scoped; upstreams, workers and remote sites fleet-scoped."""
    assert CheckSpec.of(check).scope == scope


def test_scope__keys_qualified_by_host_only_when_host_scoped():
    """In a store shared by hosts a host-scoped key ends in @host; fleet keys and single-host keys are the check's key."""
    specs, errors = resolve_entries(["health_check.Database", "health_check.contrib.atlassian.GitHub"], host="web-1")
    assert errors == []
    assert [spec.key for spec in specs] == [f"{check_key(Database())}@web-1", check_key(GitHub())]
    assert [spec.key for spec in resolve_entries(["health_check.Database"])[0]] == [check_key(Database())]


def test_scope__override_per_entry_and_hidden():
    """scope= overrides the class default, is not part of repr, and leaves the key alone at its default."""
    specs, _ = resolve_entries(
        [("health_check.Database", {"scope": "fleet"}), ("health_check.contrib.atlassian.GitHub", {"scope": "host"})],
        host="web-1",
    )
    assert [(spec.name, spec.scope, spec.key.endswith("@web-1")) for spec in specs] == [
        ("Database(alias='default')", "fleet", False),
        ("GitHub(enterprise_region=None, component='')", "host", True),
    ]
    assert check_key(Database()) == check_key(Database(scope=None))


def test_scope__invalid_value_is_a_configuration_error():
    """An unknown scope is reported as a configuration error naming the accepted values."""
    specs, errors = resolve_entries([("health_check.Database", {"scope": "region"})])
    assert specs == []
    assert [error.message for error in errors] == [
        "Database cannot be built: scope is 'region', expected one of 'host', 'fleet'"
    ]


@dataclasses.dataclass
class Counted(HealthCheck):
    runs: list = dataclasses.field(default_factory=list, repr=False, compare=False)

    def run(self) -> None:
        self.runs.append(time.monotonic())


def test_election__lost_lease_stops_the_poller(tmp_path):
    """When another holder takes the lease, the leader stops polling within one renewal, and no run happens after."""
    for store in redis_store(tmp_path, lease_seconds=0.6):
        check = Counted(poll_interval=datetime.timedelta(seconds=0.05))
        lease = store.lock("poller-fleet")

        def make() -> Poller:
            return Poller([CheckSpec.of(check)], store_runner(store), jitter=0, gate=lambda: lease.held)

        election = Election(lease, make, retry=0.05)
        try:
            election.start()
            deadline = time.monotonic() + 5
            while not check.runs:
                assert time.monotonic() < deadline, "the leader never polled"
                time.sleep(0.02)
            store.client.set(lease.name, "intruder/1/nonce", px=5000)  # another host took over
            deadline = time.monotonic() + 2
            while election.leading:
                assert time.monotonic() < deadline, "the leader kept polling after losing the lease"
                time.sleep(0.02)
            stopped_at = time.monotonic()
            time.sleep(0.3)
            assert [run for run in check.runs if run > stopped_at + 0.1] == []
            assert store.client.get(lease.name) == b"intruder/1/nonce", "the old leader never deletes a lease it lost"
        finally:
            election.stop()
