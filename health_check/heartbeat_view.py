"""``HeartbeatView``: beats POSTed over HTTP, for jobs that run where Python and the store are not.

``POST <mount>/<name>/`` with ``Authorization: Bearer <token>`` and an optional JSON body
``{"failed": true, "message": "..."}`` records a beat (``health_check.heartbeat.beat()``) and answers a
small JSON object. Every refusal is a 4xx with a one-line JSON ``error``, never a 500:

- 405 for any method but POST (``Allow: POST``);
- 401 without a bearer token (``WWW-Authenticate: Bearer``), 403 with a wrong one, or when no token is
  configured at all: a beat endpoint without a token would let anybody silence an alert;
- 404 for a name no ``Heartbeat`` check of the URLconf watches (or not in the view's ``names=``),
  told only to a caller holding the token, so names cannot be probed;
- 413 for a body over ``max_body_bytes``; 400 for a body that is not a JSON object of the known fields.

The store not answering is a 503: the caller's retry is what gets the beat recorded.
"""

from __future__ import annotations

import functools
import hmac
import json
import logging
from collections.abc import Iterable, Sequence
from typing import Any

from django.core.signals import setting_changed
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from health_check._time import isoformat
from health_check.autostart import collect_checks
from health_check.conf import get_config
from health_check.contrib.heartbeat import Heartbeat
from health_check.heartbeat import MAX_MESSAGE_CHARS, beat, validate_name
from health_check.store import StoreError

__all__ = ["HeartbeatView", "configured_names"]

logger = logging.getLogger(__name__)

#: The fields a beat's JSON body may hold.
FIELDS = frozenset({"failed", "message"})


@functools.cache
def configured_names(urlconf: str | None = None) -> frozenset[str]:
    """The names of every ``Heartbeat`` check of the URLconf's health endpoints (resolved once per URLconf)."""
    specs, _ = collect_checks(urlconf)
    return frozenset(spec.check.name for spec in specs if isinstance(spec.check, Heartbeat))


def _forget_names(*, setting: str, **kwargs: Any) -> None:
    if setting == "ROOT_URLCONF":
        configured_names.cache_clear()


setting_changed.connect(_forget_names, dispatch_uid="health_check.heartbeat_view.names")


def _error(status: int, message: str, **headers: str) -> JsonResponse:
    response = JsonResponse({"error": message}, status=status)
    for name, value in headers.items():
        response[name] = value
    return response


def _matches(header: str | None, tokens: Sequence[str]) -> bool:
    """Whether ``header`` is ``Bearer <one of tokens>``, each compared in constant time (all of them)."""
    scheme, _, given = (header or "").partition(" ")
    given_bytes = given.strip().encode("utf-8", "surrogateescape")
    found = [hmac.compare_digest(given_bytes, token.encode("utf-8", "surrogateescape")) for token in tokens]
    return scheme.lower() == "bearer" and any(found)


@method_decorator(csrf_exempt, name="dispatch")  # a job POSTs with a bearer token, never with a session cookie
class HeartbeatView(View):
    """Record a beat POSTed to ``<mount>/<name>/``; mount it with a ``name`` URL argument.

    ::

        path("heartbeat/<str:name>/", HeartbeatView.as_view(), name="heartbeat")

    Args:
        token: Bearer token (or tokens being rotated) a beat must carry; defaults to
            ``HEALTH_CHECK["HEARTBEAT_TOKEN"]``. Without either, every beat is refused (403).
        names: The heartbeat names accepted; defaults to the names of the ``Heartbeat`` checks of the
            URLconf's health endpoints. Others answer 404.
        max_body_bytes: Largest body accepted (413 beyond).
    """

    http_method_names = ["post"]
    heartbeat_endpoint = True  # found by the system checks (health_check.E007)

    token: str | Sequence[str] | None = None
    names: Iterable[str] | None = None
    max_body_bytes: int = 4096

    def get_tokens(self) -> tuple[str, ...]:
        """The tokens accepted: the view's, else ``HEALTH_CHECK["HEARTBEAT_TOKEN"]``; blank ones never match."""
        token = self.token or get_config()["HEARTBEAT_TOKEN"]
        tokens = (token,) if isinstance(token, str) else tuple(token or ())
        return tuple(one for one in tokens if isinstance(one, str) and one.strip())

    def get_names(self) -> frozenset[str]:
        """The heartbeat names this view accepts."""
        if self.names is not None:
            return frozenset(self.names)
        return configured_names(getattr(self.request, "urlconf", None))

    def http_method_not_allowed(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return _error(405, f"{(request.method or '')[:20]} is not allowed: POST a beat", Allow="POST")

    def post(self, request: HttpRequest, name: str) -> HttpResponse:
        tokens = self.get_tokens()
        if not tokens:
            return _error(403, 'beats are refused: no heartbeat token is configured (HEALTH_CHECK["HEARTBEAT_TOKEN"])')
        header = request.META.get("HTTP_AUTHORIZATION")
        if not header:
            return _error(
                401,
                "a bearer token is required: Authorization: Bearer <token>",
                **{"WWW-Authenticate": 'Bearer realm="heartbeat"'},
            )
        if not _matches(header, tokens):
            return _error(403, "the bearer token is not valid")
        try:
            validate_name(name)
            known = name in self.get_names()
        except ValueError:
            known = False
        if not known:
            return _error(404, f"no Heartbeat check watches {name[:100]!r}")
        fields = self._fields(request)
        if isinstance(fields, HttpResponse):
            return fields
        try:
            recorded = beat(name, failed=fields.get("failed", False), message=fields.get("message", ""), via="http")
        except StoreError as error:
            logger.warning("Heartbeat %s was not recorded: %s", name, error)
            return _error(503, f"the beat was not recorded: the snapshot store does not answer ({error.reason})")
        return JsonResponse(
            {
                "name": recorded.name,
                "status": "failed" if recorded.failed else "ok",
                "at": isoformat(recorded.at),
                "message": recorded.message,
            }
        )

    def _fields(self, request: HttpRequest) -> dict[str, Any] | HttpResponse:
        """The body's fields, or the 4xx that refuses it."""
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return _error(400, "the Content-Length header is not a number")
        if declared > self.max_body_bytes:
            return _error(413, f"the body is {declared} bytes, over the {self.max_body_bytes} a beat may have")
        body = request.read(self.max_body_bytes + 1)  # bounded even without a Content-Length
        if len(body) > self.max_body_bytes:
            return _error(413, f"the body is over the {self.max_body_bytes} bytes a beat may have")
        if not body.strip():
            return {}
        try:
            fields = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return _error(400, 'the body is not JSON: send {"failed": true, "message": "..."} or nothing')
        if not isinstance(fields, dict):
            return _error(400, 'the body must be a JSON object: {"failed": true, "message": "..."}')
        unknown = sorted(str(key)[:40] for key in fields if key not in FIELDS)
        if unknown:
            return _error(400, f"unknown fields: {', '.join(unknown[:5])}; a beat has failed and message")
        if not isinstance(fields.get("failed", False), bool):
            return _error(400, '"failed" must be true or false')
        message = fields.get("message", "")
        if not isinstance(message, str):
            return _error(400, f'"message" must be a string (at most {MAX_MESSAGE_CHARS} characters are kept)')
        return fields
