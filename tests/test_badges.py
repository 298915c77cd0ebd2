"""Badges: ``?format=svg`` (an image for a README) and ``?format=shields`` (shields.io's endpoint JSON).

Called as a project's tests call an endpoint (``RequestFactory``, memory store); what is asserted is
what a person sees in the image (its words, its colour, its accessible name) and what shields.io reads.
"""

from __future__ import annotations

import datetime
import json
import xml.etree.ElementTree as ET
from urllib.parse import quote

import pytest
from django.test import RequestFactory

from health_check.store import get_store
from health_check.views import HealthCheckView
from tests.scenarios import LABELS, NAMES, write_scenario
from tests.testapp.probes import Sample

SVG = "{http://www.w3.org/2000/svg}"
SAMPLES = [Sample(label) for label in LABELS]
rf = RequestFactory()


def badge(endpoint, query: str = "", **headers):
    response = endpoint(rf.get("/health/?format=svg" + query, **headers))
    root = ET.fromstring(response.content)  # well-formed XML, or this raises
    texts = [t.text for t in root.iter(f"{SVG}text") if t.get("aria-hidden") is None]
    fills = [r.get("fill") for r in root.iter(f"{SVG}rect")]
    return response, root.get("aria-label"), texts, fills


@pytest.mark.parametrize(
    ("scenario", "word", "colour", "shields"),
    [
        ("fresh", "ok", "#4c1", "brightgreen"),
        ("warning", "warning", "#dfb317", "yellow"),
        ("failing", "failing", "#e05d44", "red"),
        ("stale", "stale", "#9f9f9f", "lightgrey"),
        ("pending", "pending", "#9f9f9f", "lightgrey"),
    ],
)
def test_badges__state_words_and_colours(memory_store, scenario, word, colour, shields):
    """Always 200 (an image must be, to be shown); the endpoint's worst state in words and colour."""
    write_scenario(memory_store, scenario)
    endpoint = HealthCheckView.as_view(checks=SAMPLES)
    response, label, texts, fills = badge(endpoint)
    assert (response.status_code, response["Content-Type"]) == (200, "image/svg+xml; charset=utf-8")
    assert label == f"health: {word}" and texts == ["health", word]
    assert fills[1:3] == ["#555", colour]  # after the clip path: label box, message box
    assert ET.fromstring(response.content).find(f"{SVG}title").text == f"health: {word}"
    endpoint_json = endpoint(rf.get("/health/?format=shields"))
    assert (endpoint_json.status_code, endpoint_json["Content-Type"]) == (200, "application/json")
    assert json.loads(endpoint_json.content) == {
        "schemaVersion": 1,
        "label": "health",
        "message": word,
        "color": shields,
        "isError": word != "ok",
    }


def test_badges__label_of_the_view_escaped_and_bounded(memory_store):
    write_scenario(memory_store, "fresh")
    response, label, texts, _ = badge(HealthCheckView.as_view(checks=SAMPLES, badge_label="api <prod> & co"))
    assert label == "api <prod> & co: ok" and texts == ["api <prod> & co", "ok"]
    assert b"<prod>" not in response.content  # escaped in the XML
    _, _, texts, _ = badge(HealthCheckView.as_view(checks=SAMPLES, badge_label="x" * 100))
    assert texts[0] == "x" * 39 + "…"


def test_badges__width_follows_the_words(memory_store):
    """The badge is as wide as its words: a longer label, a wider badge; the message box fits its word."""
    write_scenario(memory_store, "failing")
    widths = []
    for label in ("db", "database", "the whole application tier"):
        response, *_ = badge(HealthCheckView.as_view(checks=SAMPLES, badge_label=label))
        widths.append(int(ET.fromstring(response.content).get("width")))
    assert widths[0] < widths[1] < widths[2]
    assert 30 < widths[0] < 90 and widths[2] < 250


def test_badges__subsets_auth_and_validators(memory_store):
    """?check= / ?exclude= choose what the badge says; a token is required as for any format; 304 on a match."""
    write_scenario(memory_store, "failing")
    endpoint = HealthCheckView.as_view(checks=SAMPLES)
    assert badge(endpoint, f"&exclude={quote(NAMES['beta'])}")[2] == ["health", "ok"]
    assert badge(endpoint, f"&check={quote(NAMES['beta'])}")[2] == ["health", "failing"]
    shields = json.loads(endpoint(rf.get(f"/health/?format=shields&check={quote(NAMES['alpha'])}")).content)
    assert shields["message"] == "ok"

    guarded = HealthCheckView.as_view(checks=SAMPLES, auth_token="badge-token-0123456789")
    assert guarded(rf.get("/health/?format=svg")).status_code == 403
    assert badge(guarded, HTTP_AUTHORIZATION="Bearer badge-token-0123456789")[2] == ["health", "failing"]

    cached = HealthCheckView.as_view(checks=SAMPLES, max_age=datetime.timedelta(seconds=60))
    first = cached(rf.get("/health/?format=svg"))
    assert first["Cache-Control"] == "public, max-age=60" and first["ETag"].startswith('"')
    again = cached(rf.get("/health/?format=svg", HTTP_IF_NONE_MATCH=first["ETag"]))
    assert (again.status_code, again.content) == (304, b"")


def test_badges__browsers_asking_for_an_image_get_the_svg(memory_store):
    write_scenario(memory_store, "fresh")
    endpoint = HealthCheckView.as_view(checks=SAMPLES)
    chrome_img = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"
    for accept in ("image/svg+xml", "image/*", chrome_img):
        assert endpoint(rf.get("/health/", HTTP_ACCEPT=accept))["Content-Type"].startswith("image/svg+xml"), accept
    assert endpoint(rf.get("/health/", HTTP_ACCEPT="*/*"))["Content-Type"].startswith("text/html")
    assert endpoint(rf.get("/health/", HTTP_ACCEPT="application/json"))["Content-Type"] == "application/json"


def test_badges__draining_host(memory_store):
    from health_check._drain import drain_key, drain_snapshot

    write_scenario(memory_store, "fresh")
    import time

    store = get_store()
    store.write(drain_snapshot(drain_key(store.host_id), time.time(), 30))
    ready = HealthCheckView.as_view(checks=SAMPLES, readiness=True)
    response, label, texts, fills = badge(ready)
    assert (response.status_code, texts, fills[2]) == (200, ["health", "draining"], "#007ec6")


def test_badges__two_badges_inlined_in_one_page_keep_their_own_clip(memory_store):
    """Inline SVGs share one id space: each badge's gradient and clip path have ids of their own."""
    from health_check._badge import COLOURS, badge_svg

    ids = [
        {
            element.get("id")
            for element in ET.fromstring(badge_svg(label, word, COLOURS[word])).iter()
            if element.get("id")
        }
        for label, word in (("health", "ok"), ("health", "failing"))
    ]
    assert len(ids[0]) == len(ids[1]) == 2 and not ids[0] & ids[1]
