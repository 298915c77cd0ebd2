"""Content negotiation: ``?format=`` first, then the Accept header by q weight, or 406; never a 500."""

from __future__ import annotations

import random
import re

import pytest
from django.conf import settings as django_settings

from health_check.negotiation import MAX_ACCEPT_LENGTH, MediaType, NotAcceptable, parse_accept, select_renderer
from health_check.renderers import (
    DEFAULT_RENDERERS,
    AtomRenderer,
    HTMLRenderer,
    JSONRenderer,
    OpenMetricsRenderer,
    RSSRenderer,
    TextRenderer,
)
from health_check.store import get_store
from tests.scenarios import expected_messages, expected_text, write_scenario

pytestmark = pytest.mark.urls("tests.testapp.urls_views")

NOT_ACCEPTABLE = (
    "Not Acceptable: Supported content types: text/plain, text/html, application/json, "
    "application/atom+xml, application/rss+xml, application/openmetrics-text"
)  # django-health-check's body exactly (issue 11): health+json is served but not listed
HTML = "text/html; charset=utf-8"
JSON = "application/json"
TEXT = "text/plain; charset=utf-8"
OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"
# What Prometheus 2.x/3.x sends when scraping.
PROMETHEUS_ACCEPT = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
    "text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)


@pytest.fixture
def fresh(memory_store):
    write_scenario(get_store(), "fresh")


@pytest.mark.parametrize(
    ("accept", "content_type"),
    [
        ("*/*", HTML),
        ("text/*", HTML),
        ("text/html", HTML),
        ("application/xhtml+xml", HTML),
        ("application/*", JSON),
        ("application/json", JSON),
        ("Application/JSON", JSON),
        ("text/plain", TEXT),
        ("application/atom+xml", "application/atom+xml; charset=utf-8"),
        ("application/rss+xml", "application/rss+xml; charset=utf-8"),
        ("application/openmetrics-text", OPENMETRICS),
        (PROMETHEUS_ACCEPT, OPENMETRICS),
        ("text/html;q=0.1, application/json", JSON),
        ("text/html;q=0.1,application/json;q=0.2", JSON),
        ("application/json;charset=utf-8;q=0.9, text/plain;q=0.5", JSON),
        ("text/plain;q=0.5, application/json;charset=utf-8;q=0.9", JSON),
        ("text/plain ; q=0.5 , application/json ; q=0.9", JSON),
        ("text/plain, application/json", TEXT),  # equal weights: header order decides
        ("application/json;q=0, text/plain;q=0.1", TEXT),
        ("image/png, application/json;q=0.5", JSON),
        ('text/plain;foo="a,b"', TEXT),
        ('image/png;note="a, text/plain;q=1", application/json;q=0.5', JSON),
        (";;;, text/plain;q=0.5", TEXT),
        ("garbage, text/plain;q=0.5", TEXT),
        ("text/, text/plain;q=0.5", TEXT),
        ("application/json;q=abc, text/plain;q=0.5", TEXT),
        ("application/json;q=2, text/plain;q=0.5", TEXT),
        ("*/json, text/plain;q=0.5", TEXT),
        (",,, text/plain", TEXT),
    ],
)
def test_negotiation__accept_header(client, fresh, accept, content_type):
    """The highest-weighted supported media range wins; malformed entries are skipped."""
    response = client.get("/health/", headers={"Accept": accept})
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == content_type


def test_negotiation__missing_accept_is_html(client, fresh):
    """No Accept header means */*, which is the HTML page."""
    response = client.get("/health/")
    assert response.status_code == 200
    assert response["Content-Type"] == HTML


@pytest.mark.parametrize(
    "accept",
    ["", "image/png", "application/json;q=0", ";;;", "garbage", "text/", "application/json;q=abc", "*/json", " , "],
)
def test_negotiation__not_acceptable(client, fresh, accept):
    """Nothing usable (empty, unsupported, refused with q=0, or malformed) answers 406 with DHC's body."""
    response = client.get("/health/", headers={"Accept": accept})
    assert response.status_code == 406
    assert response.content.decode() == NOT_ACCEPTABLE
    assert response["Content-Type"] == "text/plain"  # as django-health-check sends it
    assert response["Vary"] == "Accept"
    assert response["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    ("query", "accept", "content_type"),
    [
        ("format=json", "text/plain", JSON),
        ("format=text", "application/json", TEXT),
        ("format=html", "application/json", HTML),
        ("format=openmetrics", "", OPENMETRICS),
        ("format=yaml", "text/plain", TEXT),
        ("format=", "application/json", JSON),
        ("format=JSON", "text/plain", TEXT),
        ("format=" + "j" * 200, "application/json", JSON),
    ],
)
def test_negotiation__format_parameter(client, fresh, query, accept, content_type):
    """A known ?format= wins over Accept (even an empty one); an unknown one falls back to Accept."""
    response = client.get(f"/health/?{query}", headers={"Accept": accept})
    assert response.status_code == 200
    assert response["Content-Type"] == content_type


def test_negotiation__unknown_format_and_empty_accept(client, fresh):
    """An unknown ?format= with an empty Accept header answers 406."""
    response = client.get("/health/?format=yaml", headers={"Accept": ""})
    assert (response.status_code, response.content.decode()) == (406, NOT_ACCEPTABLE)


def test_negotiation__huge_accept_header(client, fresh):
    """A 100 KB Accept header is cut, never a 500: what comes first counts, what lies past the cut does not."""
    padding = ", ".join(f"x-type/sub{i};level={i}" for i in range(6000))
    assert len(padding) > 100_000
    first = client.get("/health/", headers={"Accept": f"application/json, {padding}"})
    assert (first.status_code, first.json()) == (200, expected_messages("fresh"))
    last = client.get("/health/", headers={"Accept": f"{padding}, application/json"})
    assert (last.status_code, last.content.decode()) == (406, NOT_ACCEPTABLE)
    garbage = client.get("/health/", headers={"Accept": ";" * 100_000 + '"' * 1000})
    assert garbage.status_code == 406


def test_negotiation__long_query_under_limits(client, fresh):
    """A long query string within DATA_UPLOAD_MAX_NUMBER_FIELDS still honours ?format=."""
    limit = django_settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
    query = "&".join(f"p{i}={'v' * 40}" for i in range(limit - 1)) + "&format=text"
    response = client.get(f"/health/?{query}", headers={"Accept": "application/json"})
    assert response.status_code == 200
    assert response["Content-Type"] == TEXT
    assert response.content.decode() == expected_text("fresh")


def test_negotiation__query_over_field_limit(client, fresh):
    """Past DATA_UPLOAD_MAX_NUMBER_FIELDS the query is ignored and Accept decides; never a 500."""
    limit = django_settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
    query = "&".join(f"p{i}=v" for i in range(limit + 500)) + "&format=text"
    response = client.get(f"/health/?{query}", headers={"Accept": "application/json"})
    assert response.status_code == 200
    assert response.json() == expected_messages("fresh")
    feed = client.get(f"/health/?{query}", headers={"Accept": "application/atom+xml"})
    assert feed.status_code == 200
    assert feed["Content-Type"] == "application/atom+xml; charset=utf-8"


def test_negotiation__not_acceptable_with_empty_store(client, memory_store):
    """406 is answered the same whether or not snapshots exist."""
    response = client.get("/health/", headers={"Accept": "image/png"})
    assert (response.status_code, response.content.decode()) == (406, NOT_ACCEPTABLE)


# -- the parser and the selector on their own -------------------------------------------------------


def test_parse_accept__weights_sorted_stably():
    """Ranges come best first; equal weights keep header order; types are lower-cased."""
    assert parse_accept("text/html;q=0.5, Application/JSON, text/plain, */*;q=0.1") == [
        ("application/json", 1.0),
        ("text/plain", 1.0),
        ("text/html", 0.5),
        ("*/*", 0.1),
    ]


def test_parse_accept__drops_refused_and_malformed():
    """q=0, q out of range, unparsable q, missing subtype, a lone '*' type with a subtype are dropped."""
    assert parse_accept('a/b;q=0, c/d;q=1.5, e/f;q=x, g/, */h, i/j;q="0.3", k/l;q=0.001') == [
        ("i/j", 0.3),
        ("k/l", 0.001),
    ]


def test_parse_accept__quoted_commas():
    """A comma inside a quoted parameter value does not split the range."""
    assert parse_accept('text/plain;title="a, b";q=0.4, application/json;q=0.2') == [
        ("text/plain", 0.4),
        ("application/json", 0.2),
    ]


def test_parse_accept__bounded():
    """Only the first MAX_ACCEPT_LENGTH characters are read."""
    header = "a/b, " * (MAX_ACCEPT_LENGTH // 5) + "text/plain"
    assert ("text/plain", 1.0) not in parse_accept(header)


@pytest.mark.parametrize(
    ("format_name", "accept", "renderer"),
    [
        (None, None, HTMLRenderer),
        ("json", None, JSONRenderer),
        ("text", "application/json", TextRenderer),
        ("atom", "", AtomRenderer),
        ("rss", "", RSSRenderer),
        ("openmetrics", "", OpenMetricsRenderer),
        ("nope", "application/*", JSONRenderer),
    ],
)
def test_select_renderer__choices(format_name, accept, renderer):
    """The renderer a (format, Accept) pair selects."""
    assert select_renderer(format_name, accept, DEFAULT_RENDERERS) is renderer


def test_select_renderer__not_acceptable_message():
    """NotAcceptable lists the supported types in django-health-check's order."""
    with pytest.raises(NotAcceptable) as raised:
        select_renderer(None, "image/png", DEFAULT_RENDERERS)
    # The exception lists every renderer; the view's 406 body is django-health-check's (NOT_ACCEPTABLE).
    assert str(raised.value) == NOT_ACCEPTABLE + ", application/health+json, image/svg+xml"  # each type once


def test_select_renderer__only_given_renderers():
    """Only the renderers passed in are candidates; the 406 lists only them."""
    with pytest.raises(NotAcceptable) as raised:
        select_renderer("html", "text/html", (JSONRenderer, TextRenderer))
    assert str(raised.value) == "Not Acceptable: Supported content types: application/json, text/plain"


# -- odd Accept headers: never an exception but NotAcceptable ------------------------------------------

#: Headers real clients, scanners and fuzzers send; each must give a renderer or a 406, never a 500.
ODD_HEADERS = [
    "",
    " ",
    ";;;",
    ",,,",
    "q=abc",
    "text/html;q=abc",
    "text/html;q=",
    "text/html;q",
    "text/html;=",
    "text/html;q=nan",
    "text/html;q=inf",
    "text/html;q=-0",
    "text/html;q=1e309",
    "text/html;q=0x1",
    '"',
    'text/html;a="unterminated',
    'text/html;a="x\\",q=0.5',
    "\\",
    "*/*;q=0.5;q=0.1;q=0.9",
    "тип/подтип, текст/html;q=0.5",
    "text/html;q=٠.٥",
    "\u0130/\u0131",
    "\x00/\x00",
    "text/\ud800",
    "é" * 5000,
    "a/b;" * 5000,
    "*/*;" + "q=1;" * 3000,
    ", ".join(["application/x-junk"] * 10_000),
    ", ".join(["text/html;q=0.1"] * 10_000),
    "application/json;" + "x" * 100_000,
]


def _random_headers(count: int) -> list[str]:
    alphabet = 'ab*/;=,q.0123456789 \t"\\é\x00\ud800'
    rng = random.Random(11)
    return ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 80))) for _ in range(count)]


#: Numbered ids: a test id of a 100 KB header would flood every report.
FUZZ = [pytest.param(header, id=f"header{index}") for index, header in enumerate(ODD_HEADERS + _random_headers(500))]


@pytest.mark.parametrize("accept", FUZZ)
@pytest.mark.parametrize("format_name", [None, "json", "x" * 100, "health json", "\x00"])
def test_select_renderer__odd_headers_never_raise(accept, format_name):
    """select_renderer() answers a renderer or NotAcceptable for any header, and parse_accept() a list."""
    assert isinstance(parse_accept(accept), list)
    try:
        renderer = select_renderer(format_name, accept, DEFAULT_RENDERERS)
    except NotAcceptable:
        return
    assert renderer in DEFAULT_RENDERERS


@pytest.mark.parametrize("accept", FUZZ)
def test_media_type__parse_header_never_raises(accept):
    """MediaType.parse_header() skips what it cannot read, and from_string() raises only ValueError."""
    assert all(isinstance(media, MediaType) for media in MediaType.parse_header(accept))
    try:
        MediaType.from_string(accept)
    except ValueError as error:
        assert len(str(error)) < 300  # a 100 KB header is not echoed whole


@pytest.mark.parametrize(
    "accept",
    [pytest.param(header, id=f"header{index}") for index, header in enumerate(ODD_HEADERS) if header.isascii()],
)
def test_negotiation__odd_headers_answer(client, fresh, accept):
    """Through the endpoint, an odd Accept header answers 200 or 406, never a 500."""
    assert client.get("/health/", headers={"Accept": accept}).status_code in (200, 406)


# -- MediaType: django-health-check's Accept parser, kept for code written against it ---------------


def test_media_type__orders_by_weight_only():
    """A lower weight sorts first; the type does not take part."""
    assert MediaType("text/html", 0.5) < MediaType("application/json")
    assert not MediaType("a/b") < MediaType("c/d") and not MediaType("c/d") < MediaType("a/b")
    assert sorted([MediaType("a/b", 0.2), MediaType("c/d"), MediaType("e/f", 0.2)], reverse=True) == [
        MediaType("c/d"),
        MediaType("a/b", 0.2),
        MediaType("e/f", 0.2),
    ]


def test_media_type__text():
    """str() is "<type>; q=<weight>" and repr() prefixes the class name, as in django-health-check."""
    assert str(MediaType("image/*", 0.6)) == "image/*; q=0.6"
    assert str(MediaType("*/*")) == "*/*; q=1.0"
    assert repr(MediaType("*/*")) == "MediaType: */*; q=1.0"


def test_media_type__equality():
    """Equal when type and weight are; never equal to something else (no AttributeError)."""
    assert MediaType("*/*") == MediaType("*/*", 1)
    assert MediaType("*/*", 0.9) != MediaType("*/*")
    assert MediaType("text/html") != MediaType("text/plain")
    assert MediaType("*/*") != "*/*"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("*/*", MediaType("*/*")),
        ("text/html", MediaType("text/html")),
        ("application/xhtml+xml;q=0.9", MediaType("application/xhtml+xml", 0.9)),
        ("*/*; q=0", MediaType("*/*", 0.0)),
        ("*/*;q=0.123", MediaType("*/*", 0.123)),
        ("*/*; q=1.000", MediaType("*/*", 1.0)),
        ("*/* ;   q=0.25", MediaType("*/*", 0.25)),
        ("*/*;version=b3", MediaType("*/*")),
        ("text/plain; q=0.5; version=0.0.4", MediaType("text/plain", 0.5)),
    ],
)
def test_media_type__from_string(value, expected):
    """One media range with an optional q first among its parameters."""
    assert MediaType.from_string(value) == expected


@pytest.mark.parametrize(
    "value", ["*/*;0.9", 'text/html;x=""', "text/html; junk", "text/html;  =a", "q=1", "text/html;q="]
)
def test_media_type__from_string_rejects(value):
    """What is not one media range raises ValueError saying so."""
    with pytest.raises(ValueError, match="is not a valid media type") as raised:
        MediaType.from_string(value)
    assert str(raised.value) == f'"{value}" is not a valid media type'


def test_media_type__parse_header():
    """Best weight first, header order among equals; no header means */*; unreadable entries are skipped."""
    assert list(MediaType.parse_header()) == [MediaType("*/*")]
    assert list(MediaType.parse_header("text/html; q=0.1, application/xhtml+xml; q=0.1 ,application/json")) == [
        MediaType("application/json"),
        MediaType("text/html", 0.1),
        MediaType("application/xhtml+xml", 0.1),
    ]
    assert list(MediaType.parse_header("text/html;q=, ;;;, application/json;q=0.5")) == [
        MediaType("application/json", 0.5)
    ]
    # As there, a q the grammar cannot read as a weight is an ordinary parameter: the weight stays 1.
    assert list(MediaType.parse_header("text/html;q=0.1234, text/plain;q=abc")) == [
        MediaType("text/html"),
        MediaType("text/plain"),
    ]


def test_media_type__pattern_as_django_health_check():
    """``MediaType.pattern`` is the grammar ``from_string()`` reads (whole entries only); a subclass may replace it."""
    match = MediaType.pattern.search("text/plain; q=0.5; version=0.0.4")
    assert match is not None and (match.group("mime_type"), match.group("weight")) == ("text/plain", "0.5")
    assert MediaType.pattern.search("text/html; junk") is None
    assert MediaType.pattern.search("junk text/html") is None

    class Lenient(MediaType):
        pattern = re.compile(r"(?P<mime_type>[^;\s]+)(?:.*q=(?P<weight>[0-9.]+))?")

    assert Lenient.from_string("text/html; junk; q=0.5") == MediaType("text/html", 0.5)
