"""``?format=health+json``: the IETF health check response format (draft-inadarei-api-health-check)."""

from __future__ import annotations

import datetime
import json

import pytest
from django.test import RequestFactory

from health_check.contrib.psutil import Disk
from health_check.recorder import store_runner
from health_check.specs import CheckSpec
from health_check.store import get_store
from health_check.views import HealthCheckView
from tests.scenarios import NAMES, REFUSED, SPECS, write_scenario

pytestmark = pytest.mark.urls("tests.testapp.urls_views")

HEALTH_JSON = "application/health+json"


def iso(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@pytest.mark.parametrize(
    "query, accept", [("?format=health+json", None), ("?format=health%2Bjson", None), ("", HEALTH_JSON)]
)
def test_health_json__failing(client, memory_store, query, accept):
    """A failing set answers 500 with status fail, one entry per check: componentId, time, latency, output when failing."""
    write_scenario(memory_store, "failing")
    headers = {"Accept": accept} if accept else {}
    response = client.get(f"/health/{query}", headers=headers)
    assert (response.status_code, response["Content-Type"]) == (500, HEALTH_JSON)
    stored = memory_store.read([spec.key for spec in SPECS.values()])
    expected_checks = {}
    for label, spec in SPECS.items():
        entry = {
            "status": "fail" if label == "beta" else "pass",
            "componentId": spec.key,
            "componentType": "component",
            "observedValue": 12.5,
            "observedUnit": "ms",
            "time": iso(stored[spec.key].checked_at),
        }
        if label == "beta":
            entry["output"] = REFUSED
        expected_checks[NAMES[label]] = [entry]
    assert json.loads(response.content) == {"status": "fail", "checks": expected_checks}


@pytest.mark.parametrize(
    "scenario, lenient, status, overall",
    [
        ("fresh", False, 200, "pass"),
        ("warning", True, 200, "warn"),
        ("warning", False, 500, "fail"),
        ("stale", False, 500, "fail"),
        ("pending", False, 500, "fail"),
    ],
)
def test_health_json__overall_status(client, memory_store, scenario, lenient, status, overall):
    """pass/warn answer 200, fail 500; with WARNINGS_AS_ERRORS a warning makes the whole response fail."""
    write_scenario(memory_store, scenario)
    response = client.get("/health/lenient/?format=health+json" if lenient else "/health/?format=health+json")
    body = json.loads(response.content)
    assert (response.status_code, body["status"]) == (status, overall)
    beta = body["checks"][NAMES["beta"]][0]
    expected_beta = {"fresh": "pass", "warning": "warn", "stale": "fail", "pending": "fail"}[scenario]
    assert beta["status"] == expected_beta
    if scenario == "pending":
        assert beta == {
            "status": "fail",
            "output": "Unavailable: pending, no result yet (is the health check poller running?)",
        }


def test_health_json__psutil_measurement(memory_store, tmp_path):
    """A Disk check's usage is its observedValue in percent, with the observation time of its run."""
    check = Disk(str(tmp_path), max_disk_usage_percent=None)
    snapshot = store_runner(memory_store).run(CheckSpec.of(check))
    endpoint = HealthCheckView.as_view(checks=[check])
    body = json.loads(endpoint(RequestFactory().get("/health/", HTTP_ACCEPT=HEALTH_JSON)).content)
    (entry,) = body["checks"][repr(check)]
    assert entry["observedUnit"] == "percent"
    assert entry["observedValue"] == snapshot.details["observed_value"]
    assert 0 <= entry["observedValue"] <= 100
    assert entry["time"] == iso(snapshot.checked_at)
    assert body["status"] == entry["status"] == "pass"
    assert get_store() is memory_store


def test_health_json__huge_integer_measurement(memory_store):
    """An integer observed_value too large for a float is still reported as it is, not a 500."""
    import dataclasses

    from tests.conftest import make_snapshot

    huge = 10**400
    snapshot = make_snapshot(SPECS["alpha"].key)
    memory_store.write(dataclasses.replace(snapshot, details={"observed_value": huge, "observed_unit": "bytes"}))
    endpoint = HealthCheckView.as_view(checks=[SPECS["alpha"].check])
    response = endpoint(RequestFactory().get("/health/", HTTP_ACCEPT=HEALTH_JSON))
    assert response.status_code == 200
    (entry,) = json.loads(response.content)["checks"][NAMES["alpha"]]
    assert (entry["observedValue"], entry["observedUnit"]) == (huge, "bytes")
