"""``?check=NAME`` / ``?exclude=NAME``: answer for some checks of an endpoint, in every format, running none.

Endpoints are called as a project's tests call them (``RequestFactory``, memory store), then through
gunicorn and uvicorn, then through the ``health_check`` command (HTTP and ``--no-http``).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from django.test import RequestFactory

from health_check.specs import CheckSpec
from health_check.store import get_store
from health_check.store.diskcache import DiskcacheStore
from health_check.views import HealthCheckView
from tests.conftest import make_snapshot
from tests.scenarios import LABELS, NAMES, REFUSED, write_scenario
from tests.support import TESTAPP, Server, http_get, serve_store
from tests.testapp.probes import Sample

FORMATS = ("json", "text", "html", "openmetrics", "rss", "atom", "health+json")
rf = RequestFactory()


@dataclasses.dataclass
class Extra(Sample):
    """A second class, so a class name selects some checks and not others."""


DELTA = Extra("delta")
CHECKS = [*(Sample(label) for label in LABELS), DELTA]
DELTA_NAME = "Extra(label='delta')"


@pytest.fixture
def failing(memory_store):
    """beta refuses connections; alpha, gamma and delta are OK."""
    write_scenario(memory_store, "failing")
    memory_store.write(make_snapshot(CheckSpec.of(DELTA).key, age_seconds=12.0))


def get(endpoint, query: str, **extra):
    response = endpoint(rf.get("/health/" + query, **extra))
    if hasattr(response, "render"):
        response.render()
    return response


def q(name: str) -> str:
    return quote(name, safe="")


def test_subsets__check_and_exclude_by_full_name(failing):
    """?check= keeps the named check, ?exclude= drops it; the status follows what is kept."""
    endpoint = HealthCheckView.as_view(checks=CHECKS)
    only_beta = get(endpoint, f"?format=json&check={q(NAMES['beta'])}")
    assert (only_beta.status_code, json.loads(only_beta.content)) == (500, {NAMES["beta"]: REFUSED})
    without_beta = get(endpoint, f"?format=json&exclude={q(NAMES['beta'])}")
    assert without_beta.status_code == 200
    assert list(json.loads(without_beta.content)) == [NAMES["alpha"], NAMES["gamma"], DELTA_NAME]
    two = get(endpoint, f"?format=json&check={q(NAMES['alpha'])}&check={q(DELTA_NAME)}")
    assert (two.status_code, list(json.loads(two.content))) == (200, [NAMES["alpha"], DELTA_NAME])


def test_subsets__class_name_selects_every_check_of_that_class(failing):
    endpoint = HealthCheckView.as_view(checks=CHECKS)
    samples = get(endpoint, "?format=json&check=Sample")
    assert (samples.status_code, list(json.loads(samples.content))) == (500, [NAMES[label] for label in LABELS])
    extra = get(endpoint, "?format=json&check=Extra")
    assert (extra.status_code, list(json.loads(extra.content))) == (200, [DELTA_NAME])
    both = get(endpoint, f"?format=json&check=Sample&exclude={q(NAMES['beta'])}")
    assert (both.status_code, list(json.loads(both.content))) == (200, [NAMES["alpha"], NAMES["gamma"]])


@pytest.mark.parametrize("fmt", [fmt for fmt in FORMATS if fmt not in ("rss", "atom")])
def test_subsets__every_format(failing, fmt):
    """Each format shows only the kept checks and answers the subset's status (feeds: the next test)."""
    endpoint = HealthCheckView.as_view(checks=CHECKS)
    response = get(endpoint, f"?format={fmt}&exclude={q(NAMES['beta'])}")
    body = response.content.decode()
    assert response.status_code == 200, body[:300]
    assert "beta" not in body and "refused" not in body
    assert "alpha" in body and "delta" in body
    full = get(endpoint, f"?format={fmt}")
    assert "beta" in full.content.decode() and full.status_code == (200 if fmt == "openmetrics" else 500)


def test_subsets__feed_lists_only_the_kept_checks_changes(memory_store):
    """A stale beta is one feed item; the feeds of ?check=alpha do not list it, those of ?check=beta do."""
    write_scenario(memory_store, "stale")
    endpoint = HealthCheckView.as_view(checks=CHECKS[:3])
    for fmt, item in (("rss", "<item>"), ("atom", "<entry>")):
        alpha = get(endpoint, f"?format={fmt}&check={q(NAMES['alpha'])}")
        beta = get(endpoint, f"?format={fmt}&check={q(NAMES['beta'])}")
        assert (alpha.status_code, beta.status_code) == (200, 200)
        assert alpha.content.decode().count(item) == 0, fmt
        items = beta.content.decode().split(item)[1:]
        assert len(items) == 1 and "stale" in items[0] and "beta" in items[0], fmt


def test_subsets__different_subsets_never_share_a_body(failing):
    endpoint = HealthCheckView.as_view(checks=CHECKS)
    for _ in range(2):
        for label in ("alpha", "beta", "gamma"):
            for fmt in ("json", "text", "html"):
                body = get(endpoint, f"?format={fmt}&check={q(NAMES[label])}").content.decode()
                others = [other for other in LABELS if other != label]
                assert label in body and not any(f"'{other}'" in body for other in others), (label, fmt)


def test_subsets__unknown_name_is_a_400_listing_the_names(failing):
    endpoint = HealthCheckView.as_view(checks=CHECKS)
    response = get(endpoint, "?format=json&check=Nope&exclude=Sample")
    assert (response.status_code, response["Content-Type"]) == (400, "text/plain; charset=utf-8")
    assert response.content.decode() == (
        "Bad Request: no check named 'Nope' on this endpoint. Checks of this endpoint: "
        f"{NAMES['alpha']}, {NAMES['beta']}, {NAMES['gamma']}, {DELTA_NAME}."
    )
    head = endpoint(rf.head("/health/?check=Nope"))
    assert (head.status_code, head.content) == (400, b"")


def test_subsets__anonymous_without_names_is_told_no_names(failing, settings):
    """ANONYMOUS_DETAIL "status" hides check names: the 400 does not list them; subsets still work."""
    settings.HEALTH_CHECK = {**settings.HEALTH_CHECK, "ANONYMOUS_DETAIL": "status"}
    write_scenario(get_store(), "failing")
    endpoint = HealthCheckView.as_view(checks=CHECKS[:3])
    response = get(endpoint, "?check=Nope")
    assert response.status_code == 400
    assert response.content.decode() == (
        "Bad Request: no check named 'Nope' on this endpoint. Names are shown to requests with the endpoint's token."
    )
    assert get(endpoint, f"?format=json&exclude={q(NAMES['beta'])}").status_code == 200
    assert get(endpoint, f"?format=json&check={q(NAMES['beta'])}").status_code == 500


def test_subsets__too_many_names_or_garbage(failing):
    endpoint = HealthCheckView.as_view(checks=CHECKS)
    response = get(endpoint, "?" + "&".join(["check=Sample"] * 40))
    assert response.status_code == 400 and b"more than 32 check names" in response.content
    long = get(endpoint, "?check=" + "x" * 5000)
    assert long.status_code == 400 and len(long.content) < 1000
    assert get(endpoint, "?format=json&check=").status_code == 400  # an empty name names no check
    assert get(endpoint, "?format=json&checkered=1").status_code == 500  # other parameters: the whole endpoint


class Hooked(HealthCheckView):
    def render_to_response_json(self, status):
        response = super().render_to_response_json(status)
        response["X-Hooked"] = str(len(self.results))
        return response


def test_subsets__subclass_gets_the_subset(failing):
    endpoint = Hooked.as_view(checks=CHECKS)
    response = get(endpoint, f"?format=json&exclude={q(NAMES['beta'])}")
    assert (response.status_code, response["X-Hooked"]) == (200, "3")
    assert get(endpoint, "?check=Nope").status_code == 400


# -- real servers and the command ------------------------------------------------------------------


@pytest.fixture(params=list(TESTAPP), scope="module")
def server(request, tmp_path_factory) -> Iterator[tuple[Server, str]]:
    location = str(tmp_path_factory.mktemp("subset-store"))
    store = DiskcacheStore(location)
    write_scenario(store, "failing")
    store.close()
    process = serve_store(request.param, location)
    try:
        yield process, location
    finally:
        process.stop()


def test_subsets__real_servers(server):
    process, _ = server
    url = f"http://127.0.0.1:{process.port}/health/"
    assert http_get(url, timeout=30).status == 500
    excluded = http_get(f"{url}?format=json&exclude={q(NAMES['beta'])}", timeout=30)
    assert (excluded.status, list(json.loads(excluded.body))) == (200, [NAMES["alpha"], NAMES["gamma"]])
    assert http_get(f"{url}?check=Nope", timeout=30).status == 400


def test_subsets__command_over_http_and_without(server):
    """--check/--exclude: the same readings and exit codes over HTTP and with --no-http."""
    import os
    import subprocess
    import sys

    from tests.support import ROOT

    process, location = server
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.testapp.settings_middleware",
        "HEALTH_SNAPSHOT_STORE_DIR": location,
        "PYTHONPATH": str(ROOT),
    }

    def manage(*args: str) -> tuple[int, str, str]:
        done = subprocess.run(
            [sys.executable, "-m", "django", "health_check", "views-main", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        return done.returncode, done.stdout, done.stderr

    address = f"127.0.0.1:{process.port}"
    for mode in ([address], ["--no-http"]):
        assert manage(*mode, "--exclude", NAMES["beta"]) == (
            0,
            f"{NAMES['alpha']}: OK\n{NAMES['gamma']}: OK\n",
            "",
        ), mode
        assert manage(*mode, "--check", NAMES["beta"])[:2] == (1, f"{NAMES['beta']}: {REFUSED}\n"), mode
        code, out, err = manage(*mode, "--check", "Nope")
        assert (code, out) == (2, ""), mode
        assert err.startswith("no check named 'Nope' on this endpoint. Checks of this endpoint: Sample(label='alpha')")
