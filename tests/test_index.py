"""The endpoint index as the poller builds it and the command looks it up (in-process; the command's own
answers, with and without the index, are in tests/test_command_index.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from health_check._index import INDEX_VERSION, lookup
from health_check._indexer import build_index, write_endpoint_index
from health_check.specs import CheckSpec
from health_check.store import StoreError
from health_check.store.memory import MemoryStore
from tests.testapp.probes import Sample, Steady

pytestmark = pytest.mark.urls("tests.testapp.urls_index")


def test_build_index__keeps_replayable_endpoints_only():
    """Named endpoints answered by the base hooks are indexed (namespaced as reverse() takes them); a view that
    answers with its own get_report()/get_checks(), a clock=, a mistyped status_codes= (which the endpoint logs)
    or a route with arguments is left to the URLconf."""
    index = build_index(None)
    assert sorted(index["endpoints"]) == ["index-plain", "index-ready", "index-styled", "outer:inner"]
    assert index["endpoints"]["index-ready"]["readiness"] is True
    assert index["endpoints"]["index-styled"] == {
        "path": "/styled/",
        "checks": [
            ["Sample(label='styled')", CheckSpec.of(Sample("styled")).key, {"check": "Sample", "label": "styled"}]
        ],
        "errors": [],
        "warnings_as_errors": False,
        "readiness": False,
    }
    assert index["endpoints"]["outer:inner"]["path"] == "/outer/inner/"
    assert (index["version"], index["host"]) == (INDEX_VERSION, None)


def test_build_index__keys_of_the_store_host():
    """For a store shared by hosts the keys are this host's, as the endpoint reads them."""
    index = build_index("host-a")
    [[name, key, _]] = index["endpoints"]["index-plain"]["checks"]
    assert (name, key, index["host"]) == ("Steady()", CheckSpec.of(Steady(), "host-a").key, "host-a")
    assert key.endswith("@host-a")


def test_build_index__covers_the_source_files():
    """The files of the URLconf, the checks' and the test modules' packages are in the fingerprint."""
    files = build_index(None)["files"]
    paths = {f"{directory}/{name}" for directory, names in files.items() for name in names}
    assert {path.rsplit("/", 2)[-2] + "/" + path.rsplit("/", 1)[-1] for path in paths} >= {
        "testapp/urls_index.py",
        "testapp/probes.py",
        "health_check/views.py",
    }
    assert not any("/django/" in path for path in paths), "Django is covered by its version"


def test_lookup__tells_why_it_cannot_answer(settings):
    """An entry only for this host, this format, a known name and the settings and files it was written with."""
    index = build_index(None)
    entry, why = lookup(index, "index-plain", None)
    assert (entry.name, entry.path, entry.keys, why) == ("index-plain", "/plain/", (CheckSpec.of(Steady()).key,), "")
    assert lookup(None, "index-plain", None) == (None, "no endpoint index in the store")
    assert lookup({**index, "version": 0}, "index-plain", None) == (None, "the endpoint index has another format")
    assert lookup(index, "index-plain", "host-b") == (None, "the endpoint index is another host's")
    assert lookup(index, "index-own-report", None) == (None, "the endpoint index has no endpoint 'index-own-report'")
    settings.FLAVOR = "changed"
    assert lookup(index, "index-plain", None) == (
        None,
        "the endpoint index is out of date (source files, settings or versions changed)",
    )


def test_lookup__foreign_data_is_no_answer():
    """An entry that is not what the poller writes reads as unreadable, never raises."""
    index = build_index(None)
    index["endpoints"]["index-plain"] = {"checks": [["only", "two"]]}
    assert lookup(index, "index-plain", None) == (None, "the endpoint index is unreadable")
    assert lookup({**index, "files": {"/x": "not a list"}}, "index-plain", None) == (
        None,
        "the endpoint index is unreadable",
    )


def test_write_endpoint_index__only_when_it_changed(memory_store, settings):
    """The poller writes the index when it starts; again only when what it finds differs from the stored one."""
    assert write_endpoint_index(memory_store) is True
    assert memory_store.read_index() == build_index(None)
    assert write_endpoint_index(memory_store) is False, "unchanged: not written again"
    settings.ROOT_URLCONF = "tests.testapp.urls"
    assert write_endpoint_index(memory_store) is True
    assert "health_check-steady" in memory_store.read_index()["endpoints"]


class FullStore(MemoryStore):
    """A store that refuses every index."""

    def write_index(self, index: Mapping[str, Any]) -> None:
        raise StoreError("cannot write to the full store: no space left")


def test_write_endpoint_index__store_failure_is_logged_not_raised(caplog):
    """A store that cannot take the index costs only speed: one warning line, the poller goes on."""
    assert write_endpoint_index(FullStore()) is False
    assert [record.getMessage() for record in caplog.records] == [
        "Cannot write the endpoint index to the memory store (this process only): cannot write to the full store: "
        "no space left; manage.py health_check --no-http imports the URLconf until one is written"
    ]
