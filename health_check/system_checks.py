"""Start-up checks of our settings and of every endpoint's ``checks=``: id, message, hint.

Ids are stable and documented (docs/reference/system-checks.md):

- ``health_check.E001``: ``HEALTH_CHECK_AUTH_TOKEN`` is set but is not a non-empty string (a bad
  ``HEALTH_CHECK["AUTH_TOKEN"]`` is an E003 like any other ``HEALTH_CHECK`` value).
- ``health_check.E002``: a ``checks=`` entry of an endpoint cannot be imported or built.
- ``health_check.E003``: a ``HEALTH_CHECK`` value has the wrong type or range.
- ``health_check.E004``: the snapshot store cannot be opened.
- ``health_check.E005``: ``HEALTH_CHECK["STORE"]`` is a Redis URL but the redis package is missing.
- ``health_check.E006``: an endpoint's ``status_codes=`` has an unknown key or a code outside 200-599.
- ``health_check.E007``: a ``HeartbeatView`` is mounted but no heartbeat token is configured for it.
- ``health_check.E008``: a check's ``depends_on`` names no check of any endpoint, or the
  ``depends_on`` of the checks make a cycle.
- ``health_check.W001``: an unknown ``HEALTH_CHECK`` key (probably a typo).
- ``health_check.W002``: a django-health-check 3.x key this package ignores.
- ``health_check.W004``: a bearer token shorter than 16 characters (settings or an endpoint's ``auth_token``).
- ``health_check.W005``: ``HealthCheckMiddleware`` is in ``MIDDLEWARE`` but not first.
"""

from __future__ import annotations

import difflib
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.urls import URLPattern, URLResolver, get_resolver

from health_check._folding import resolve_graph
from health_check._status_codes import status_code_problems
from health_check.autostart import collect_checks
from health_check.checks import check_auth_token
from health_check.conf import DEFAULTS, LEGACY_KEYS, VALIDATORS, shown_value
from health_check.heartbeat_view import HeartbeatView
from health_check.maintenance import parse_windows
from health_check.middleware import MIDDLEWARE_PATH
from health_check.store import StoreError, get_store
from health_check.store._setting import StoreSettingError, parse_store_setting
from health_check.urlconf import iter_endpoints

__all__ = [
    "check_endpoints",
    "check_heartbeat_views",
    "check_middleware",
    "check_settings",
    "check_store",
    "check_tokens",
    "heartbeat_views",
]

#: Below this many characters a bearer token can be guessed by a patient scanner.
MIN_TOKEN_LENGTH = 16


@register(Tags.compatibility)
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Validate ``HEALTH_CHECK`` and ``HEALTH_CHECK_AUTH_TOKEN``."""
    messages: list[CheckMessage] = list(check_auth_token(app_configs))
    user = getattr(settings, "HEALTH_CHECK", {})
    if not isinstance(user, dict):
        return messages + [
            Error(
                f"HEALTH_CHECK must be a dict, got {type(user).__name__}.",
                hint='Write HEALTH_CHECK = {"STORE": "diskcache", ...}; see the settings reference.',
                id="health_check.E003",
            )
        ]
    for key, value in user.items():
        if key in LEGACY_KEYS:
            messages.append(
                Warning(
                    f'HEALTH_CHECK["{key}"] is a django-health-check 3.x setting and is ignored.',
                    hint="Thresholds are check arguments now, e.g. "
                    '("health_check.contrib.psutil.Disk", {"max_disk_usage_percent": 90}).',
                    id="health_check.W002",
                )
            )
        elif key not in DEFAULTS:
            close = difflib.get_close_matches(str(key).upper(), DEFAULTS, n=1)  # keys are upper case
            messages.append(
                Warning(
                    f'HEALTH_CHECK["{key}"] is not a known setting and is ignored.',
                    hint=f'Did you mean "{close[0]}"?' if close else f"Known keys: {', '.join(sorted(DEFAULTS))}.",
                    id="health_check.W001",
                )
            )
        elif key == "STORE":
            messages += _check_store_setting(value)
        elif key == "MAINTENANCE_WINDOWS":
            messages += _check_windows(value)
        else:
            valid, expected = VALIDATORS[key]
            if not valid(value):
                messages.append(
                    Error(
                        f'HEALTH_CHECK["{key}"] is {shown_value(key, value)}, expected {expected}.',
                        hint=_fallback_hint(key),
                        id="health_check.E003",
                    )
                )
    return messages


def _fallback_hint(key: str) -> str:
    if key == "AUTH_TOKEN":
        return "Set a non-empty string, or None for no token. Until then every request is refused."
    if key == "HEARTBEAT_TOKEN":
        return (
            "Set a non-empty string, or None when no HeartbeatView is mounted. Until then every POSTed beat is refused."
        )
    if key == "ANONYMOUS_DETAIL":
        return (
            'Fix the value or remove the key to use the default ("full"). Until then anonymous requests see "status".'
        )
    if key == "BASE_URL":
        return (
            "Set the scheme and host your feeds are read at, or remove the key. Until then links use the "
            "request's host when ALLOWED_HOSTS admits it and are relative otherwise."
        )
    return f"Fix the value or remove the key to use the default ({DEFAULTS[key]!r}). Until then the default is used."


def _check_store_setting(value: Any) -> list[CheckMessage]:
    try:
        setting = parse_store_setting(value)
    except StoreSettingError as error:
        return [Error(error.message, hint=error.hint, id="health_check.E003")]
    if setting.kind == "redis":
        try:
            import redis  # noqa: F401
        except ImportError:
            return [
                Error(
                    f'HEALTH_CHECK["STORE"] is "{setting.shown}" but the redis package is not installed.',
                    hint='pip install "django-health-snapshot[redis]", or use the default diskcache store on a single host.',
                    id="health_check.E005",
                )
            ]
    return []


@register(Tags.compatibility)
def check_store(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """The configured store opens (its directory exists or can be made, and is writable)."""
    if any(message.is_serious() for message in check_settings()):
        return []  # the settings error says it better
    try:
        get_store()
    except StoreError as error:  # get_store() turns any failure into one, without a credential
        return [
            Error(
                f"The health check snapshot store cannot be opened: {error}",
                hint='Set HEALTH_CHECK["STORE_LOCATION"] to a directory writable by the web and poller processes, '
                'or fix HEALTH_CHECK["STORE"]. Until then every health endpoint answers 500 with this message.',
                id="health_check.E004",
            )
        ]
    return []


@register(Tags.security)
def check_tokens(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Warn about bearer tokens short enough to guess; the message says where, never the token."""
    found: list[tuple[str, Any, Any]] = []  # (where, value, obj)
    user = getattr(settings, "HEALTH_CHECK", {})
    if isinstance(user, dict) and "AUTH_TOKEN" in user:
        found.append(('HEALTH_CHECK["AUTH_TOKEN"]', user["AUTH_TOKEN"], None))
    if isinstance(user, dict) and "HEARTBEAT_TOKEN" in user:
        found.append(('HEALTH_CHECK["HEARTBEAT_TOKEN"]', user["HEARTBEAT_TOKEN"], None))
    if hasattr(settings, "HEALTH_CHECK_AUTH_TOKEN"):
        found.append(("HEALTH_CHECK_AUTH_TOKEN", settings.HEALTH_CHECK_AUTH_TOKEN, None))
    try:
        mounted = heartbeat_views()
    except Exception:  # a broken URLconf is reported by Django's own URL checks
        mounted = []
    for route, view_class in mounted:
        if view_class.token:
            found.append((f"Heartbeat endpoint at {route}: token", view_class.token, route))
    try:
        endpoints = list(iter_endpoints())
    except Exception:  # a broken URLconf is reported by Django's own URL checks
        endpoints = []
    for endpoint in endpoints:
        value = getattr(endpoint.view.view, "auth_token", None)
        if value:
            found.append((f"Health check endpoint {endpoint.label}: auth_token", value, endpoint.route))
    messages: list[CheckMessage] = []
    for where, value, obj in found:
        tokens = [value] if isinstance(value, str) else value if isinstance(value, (list, tuple)) else []
        for position, token in enumerate(tokens):
            if not isinstance(token, str) or not token.strip() or len(token) >= MIN_TOKEN_LENGTH:
                continue  # a blank or mistyped token is an error of check_settings, not a weak one
            which = f" (token {position + 1} of {len(tokens)})" if len(tokens) > 1 else ""
            messages.append(
                Warning(
                    f"{where}{which} is {len(token)} characters long, shorter than {MIN_TOKEN_LENGTH}: "
                    "it can be guessed.",
                    hint="Use a long random token, e.g. the output of "
                    "python -c 'import secrets; print(secrets.token_urlsafe(32))'.",
                    obj=obj,
                    id="health_check.W004",
                )
            )
    return messages


@register(Tags.urls)
def check_endpoints(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Every ``checks=`` entry of every ``HealthCheckView`` endpoint imports and builds."""
    endpoints: dict[str, set[str]] = {}
    try:
        specs, errors = collect_checks(endpoints=endpoints)
    except Exception:  # a broken URLconf is reported by Django's own URL checks
        return []
    messages: list[CheckMessage] = [
        Error(
            f"Health check endpoint {endpoint.label}: entry {error.entry}: {error.message}.",
            hint="Fix the dotted path or the keyword arguments of this entry in your urls.py; "
            "until then the endpoint reports it as a failing check.",
            obj=endpoint.route,
            id="health_check.E002",
        )
        for endpoint, error in errors
    ]
    messages += _check_dependencies(specs, endpoints)
    for endpoint in iter_endpoints():
        for problem in status_code_problems(getattr(endpoint.view.view, "status_codes", None)):
            messages.append(
                Error(
                    f"Health check endpoint {endpoint.label}: {problem}.",
                    hint='Write e.g. status_codes={"warning": 200, "error": 503}; until then the endpoint '
                    "answers 200 and 500.",
                    obj=endpoint.route,
                    id="health_check.E006",
                )
            )
    return messages


@register(Tags.compatibility)
def check_middleware(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """``HealthCheckMiddleware`` comes first: what runs before it still answers probes (a 400, a 301)."""
    middleware = list(getattr(settings, "MIDDLEWARE", None) or ())
    if MIDDLEWARE_PATH not in middleware or middleware[0] == MIDDLEWARE_PATH:
        return []
    before = middleware[: middleware.index(MIDDLEWARE_PATH)]
    return [
        Warning(
            f'"{MIDDLEWARE_PATH}" is not the first entry of MIDDLEWARE: '
            + ", ".join(f'"{entry}"' for entry in before)
            + (" comes" if len(before) == 1 else " come")
            + " before it.",
            hint="Move it to the top of MIDDLEWARE. Middleware before it still sees every probe: SecurityMiddleware "
            "redirects plain HTTP (SECURE_SSL_REDIRECT) and CommonMiddleware answers 400 to a Host outside "
            "ALLOWED_HOSTS, such as a pod's IP. If what comes before never reads the Host header or redirects, "
            'add "health_check.W005" to SILENCED_SYSTEM_CHECKS.',
            id="health_check.W005",
        )
    ]


def _check_windows(value: Any) -> list[CheckMessage]:
    """``MAINTENANCE_WINDOWS``: what is wrong with which window, as the poller would log it."""
    try:
        parse_windows(value)
    except ValueError as error:
        return [
            Error(
                f'HEALTH_CHECK["MAINTENANCE_WINDOWS"] is wrong: {error}.',
                hint='Each window is a dict such as {"checks": ["replica"], "weekdays": ["sun"], "start": "02:00", '
                '"end": "04:00", "timezone": "Europe/Berlin", "reason": "replica upgrade"}. Until fixed, no '
                "window applies (checks alarm as usual).",
                id="health_check.E003",
            )
        ]
    return []


def _check_dependencies(specs: list[Any], endpoints: dict[str, set[str]]) -> list[CheckMessage]:
    """``depends_on``: every name is a check's (or an endpoint's), and they make no cycle."""
    graph = resolve_graph(specs, endpoints)
    if graph is None:
        return []
    messages: list[CheckMessage] = [
        Error(
            f"Health check {name}: depends_on names {wanted!r}, which is no check of any endpoint.",
            hint='Name the dependency as the endpoints show it (e.g. "Redis(...)" or its title); until then '
            "this dependency is ignored and the check's changes are announced on their own.",
            id="health_check.E008",
        )
        for name, wanted in graph.unknown
    ]
    cycle = graph.cycle()
    if cycle is not None:
        messages.append(
            Error(
                "Health check depends_on makes a cycle: " + " -> ".join(graph.labels.get(k, k) for k in cycle) + ".",
                hint="A check cannot depend on itself through others; remove one depends_on of the cycle. Until "
                "then no change is folded into another.",
                id="health_check.E008",
            )
        )
    return messages


def heartbeat_views(urlconf: str | None = None) -> list[tuple[str, type[HeartbeatView]]]:
    """Every ``HeartbeatView`` of the URLconf: its route and its view class (with ``as_view()``'s arguments)."""
    found: list[tuple[str, type[HeartbeatView]]] = []

    def walk(patterns: Any, prefix: str) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern):
                view_class = getattr(pattern.callback, "view_class", None)
                if isinstance(view_class, type) and issubclass(view_class, HeartbeatView):
                    found.append((prefix + str(pattern.pattern), _configured(pattern.callback, view_class)))

    walk(get_resolver(urlconf).url_patterns, "/")
    return found


def _configured(callback: Any, view_class: type[HeartbeatView]) -> type[HeartbeatView]:
    """The view class with the arguments ``as_view()`` was given (``callback.view_initkwargs``) applied."""
    initkwargs = getattr(callback, "view_initkwargs", None) or {}
    return type(view_class.__name__, (view_class,), dict(initkwargs)) if initkwargs else view_class


@register(Tags.security)
def check_heartbeat_views(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """A mounted ``HeartbeatView`` has a token: without one it refuses every beat."""
    try:
        mounted = heartbeat_views()
    except Exception:  # a broken URLconf is reported by Django's own URL checks
        return []
    messages: list[CheckMessage] = []
    for route, view_class in mounted:
        if view_class().get_tokens():
            continue
        messages.append(
            Error(
                f"Heartbeat endpoint at {route} has no token: it refuses every beat (403).",
                hint='Set HEALTH_CHECK["HEARTBEAT_TOKEN"] to a long random token (e.g. from an environment '
                "variable), or pass token= to HeartbeatView.as_view(). Jobs send it as Authorization: Bearer <token>.",
                obj=route,
                id="health_check.E007",
            )
        )
    return messages
