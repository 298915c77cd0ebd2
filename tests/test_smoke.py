"""The node endpoint answers from snapshots the runner wrote."""

from django.test import Client

from health_check.autostart import collect_checks
from scheduler.jobs import CheckRunner, run_all_once


def test_node_endpoint__green_after_one_poll(memory_store):
    """Pending before the first poll (500), OK for every node check after it (200)."""
    client = Client()
    assert client.get("/health/node/?format=json").status_code == 500
    specs, errors = collect_checks()
    assert errors == []
    run_all_once(CheckRunner(memory_store), specs)
    response = client.get("/health/node/?format=json")
    assert response.status_code == 200, response.content
    assert set(response.json().values()) == {"OK"}
