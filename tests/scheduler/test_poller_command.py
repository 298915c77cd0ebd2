"""``manage.py health_check_poller --once``: run every check once, store and print, exit 0/1/2."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from health_check.autostart import collect_checks
from health_check.store import get_store, reset_store
from health_check.store.memory import MemoryStore
from health_check.views import HealthCheckView
from tests.scheduler import urls_command


def run_command(*args: str) -> tuple[int, str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    with pytest.raises(SystemExit) as exited:
        call_command("health_check_poller", *args, stdout=stdout, stderr=stderr)
    return exited.value.code, stdout.getvalue(), stderr.getvalue()


def test_poller_command__once_reports_and_stores(memory_store, settings):
    """--once prints one line per check, stores every snapshot, and exits 1 when one fails."""
    settings.ROOT_URLCONF = "tests.scheduler.urls_command"
    code, out, err = run_command("--once")
    assert (code, err) == (1, "")
    assert out.splitlines() == ["Steady(): OK", "Refused(): Unavailable: connection refused by queue:5672"]
    specs, _ = collect_checks()
    store = get_store()  # changing ROOT_URLCONF reset the store: the default location derives from it
    assert {store.read([s.key])[s.key].message for s in specs} == {
        "OK",
        "Unavailable: connection refused by queue:5672",
    }


def test_poller_command__once_healthy_exits_0(memory_store, settings):
    """--once exits 0 when every check passes."""
    settings.ROOT_URLCONF = type("Healthy", (), {"urlpatterns": urls_command.urlpatterns[:1]})
    assert run_command("--once") == (0, "Steady(): OK\n", "")


def test_poller_command__no_checks_exits_2(memory_store, settings):
    """A URLconf without health checks exits 2 and says there is nothing to poll."""
    settings.ROOT_URLCONF = urls_command.NoChecks
    assert run_command("--once") == (
        2,
        "",
        "No health checks found: no HealthCheckView in the URLconf has checks. Nothing to poll.\n",
    )


class SharedStore(MemoryStore):
    """A memory store that says it is shared by hosts, as RedisStore does: host-scoped keys get "@web-1"."""

    host_id = "web-1"

    def __init__(self, location: str) -> None:
        super().__init__()


def test_poller_command__once_qualifies_host_keys_in_a_shared_store(settings):
    """--once with a store shared by hosts writes host-scoped snapshots under this host's keys, where the endpoint reads."""
    settings.HEALTH_CHECK = {"STORE": "tests.scheduler.test_poller_command.SharedStore", "POLLER_AUTOSTART": False}
    settings.ROOT_URLCONF = type("Healthy", (), {"urlpatterns": urls_command.urlpatterns[:1]})
    reset_store()
    try:
        assert run_command("--once") == (0, "Steady(): OK\n", "")
        view = HealthCheckView.as_view(checks=["tests.testapp.probes.Steady"]).view  # a reader resolving afresh
        assert [(r.name, r.message) for r in view.get_report().readings] == [("Steady()", "OK")]
        (spec,), _ = collect_checks(host="web-1")
        assert spec.key.endswith("@web-1") and get_store().read([spec.key])[spec.key].message == "OK"
    finally:
        reset_store()
