"""OpenMetrics: django-health-check's three metrics, snapshot age, and a per-check state set for stale alerts."""

from __future__ import annotations

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from tests.scenarios import LABELS, SCENARIOS, state_of, write_scenario

pytestmark = pytest.mark.urls("tests.testapp.urls_views")

STATES = ("ok", "warning", "error", "stale", "pending", "maintenance")


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_openmetrics_stateset__one_state_set_per_check(client, memory_store, name):
    """Each check has a stateset with exactly its current state at 1; the DHC metrics and snapshot age stay."""
    write_scenario(memory_store, name)
    response = client.get("/health/?format=openmetrics")
    assert response.status_code == 200
    families = {family.name: family for family in text_string_to_metric_families(response.content.decode())}
    assert set(families) == {
        "django_health_check_status",
        "django_health_check_response_time_seconds",
        "django_health_check_overall_status",
        "django_health_check_snapshot_age_seconds",
        "django_health_check_state",
        "django_health_check_uptime_ratio",
    }
    stateset = families["django_health_check_state"]
    assert stateset.type == "stateset"
    values = {(s.labels["label"], s.labels["django_health_check_state"]): s.value for s in stateset.samples}
    assert values == {
        (label, state): (1.0 if state == state_of(name, label) else 0.0) for label in LABELS for state in STATES
    }


def test_openmetrics_stateset__stale_alert_expression(client, memory_store):
    """The samples a `django_health_check_state{django_health_check_state="stale"} == 1` alert fires on."""
    write_scenario(memory_store, "stale")
    body = client.get("/health/?format=openmetrics").content.decode()
    (stateset,) = [f for f in text_string_to_metric_families(body) if f.name == "django_health_check_state"]
    firing = [
        s.labels["label"] for s in stateset.samples if s.labels["django_health_check_state"] == "stale" and s.value == 1
    ]
    assert firing == ["beta"]
