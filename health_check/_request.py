"""What the read path reads from a request, straight from ``request.META``.

``request.GET`` and ``request.headers`` each build a whole mapping, which costs more than everything else
a cached answer does; the plain cases a probe sends are read here without them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.core.exceptions import DisallowedHost
from django.http import HttpRequest
from django.utils.crypto import constant_time_compare
from django.utils.encoding import iri_to_uri
from django.utils.http import parse_http_date_safe

from health_check.conf import get_config

__all__ = ["absolute_url", "authorized", "format_parameter", "not_modified"]


def format_parameter(request: HttpRequest) -> str | None:
    """``?format=`` without building ``request.GET`` for the plain cases probes send."""
    query = request.META.get("QUERY_STRING", "")
    if "format" not in query:
        return None
    if len(query) <= 256 and "%" not in query and "+" not in query and ";" not in query:
        found = None
        for pair in query.split("&"):
            name, _, value = pair.partition("=")
            if name == "format":
                found = value  # the last one wins, as with QueryDict.get()
        return found
    try:
        return request.GET.get("format")
    except Exception:  # an oversized or broken query string; Accept still decides
        return None


def authorized(header: str | None, token: str | Sequence[str], allow_anonymous: bool) -> bool:
    """Whether an Authorization header carries ``token`` (or one of several) as a bearer token.

    No header: ``allow_anonymous``. Several tokens (a rotation) are each compared in constant time,
    all of them whichever matches, so the time taken says nothing about which one did; a blank token
    (an unset environment variable in the list) admits nobody.
    """
    if header is None:
        return allow_anonymous
    scheme, _, credentials = header.partition(" ")
    if isinstance(token, str):
        return scheme.lower() == "bearer" and constant_time_compare(credentials, token)
    matches = [constant_time_compare(credentials, one) for one in token if isinstance(one, str) and one.strip()]
    return scheme.lower() == "bearer" and any(matches)


def not_modified(meta: dict[str, Any], headers: dict[str, str]) -> bool:
    """RFC 9110 §13.1: If-None-Match wins over If-Modified-Since; weak comparison for If-None-Match."""
    etag = headers.get("ETag")
    if_none_match = meta.get("HTTP_IF_NONE_MATCH")
    if if_none_match is not None:
        if etag is None:
            return False
        candidates = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
        return etag in candidates or "*" in candidates
    last_modified = headers.get("Last-Modified")
    if_modified_since = meta.get("HTTP_IF_MODIFIED_SINCE")
    if last_modified and if_modified_since:
        since = parse_http_date_safe(if_modified_since)
        modified = parse_http_date_safe(last_modified)
        return since is not None and modified is not None and modified <= since
    return False


def absolute_url(request: HttpRequest, location: str) -> str:
    """``location`` (a path) as the links of an answer show it; never built from an unvalidated Host.

    ``HEALTH_CHECK["BASE_URL"]`` when set; else the request's scheme and host if ``ALLOWED_HOSTS`` admits
    it (``get_host()``, which ``HealthCheckMiddleware`` does not call for probes by pod IP); else the path
    alone, a relative link. Feeds are cached per the URL this returns, so a forged Host header gets an
    answer of its own (with relative links) and never the one other readers are served.
    """
    base = get_config()["BASE_URL"]
    if not base:
        try:
            base = f"{request.scheme}://{request.get_host()}"
        except DisallowedHost:
            base = ""
    return iri_to_uri(base + location)
