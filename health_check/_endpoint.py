"""The callable a URL pattern holds: synchronous under WSGI, asynchronous under ASGI, chosen per call.

Django asks whether a view is a coroutine function from inside the event loop only when it serves ASGI.
A sync view under ASGI would cost a thread hop per probe, an async view under WSGI an event loop per
probe (about 0.5 ms, ten times a bare view); this callable pays neither. A class that overrides no hook
is answered by its ``Responder`` without a view instance; one that overrides any (or sets
``extra_context``, its own template or ``http_method_names``) is served as Django serves views, an
instance per request; one whose own ``dispatch``/``get``... is ``async def`` is always
a coroutine view.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase

from health_check._answers import ready
from health_check._responder import Responder
from health_check._urls import describe_error

__all__ = ["HealthCheckEndpoint", "base_view", "hook_names", "needs_instance", "overridden"]

logger = logging.getLogger("health_check")

_COROUTINE_MARK_311 = getattr(asyncio.coroutines, "_is_coroutine", None)
_COROUTINE_MARK_312 = getattr(inspect, "_is_coroutine_mark", None)
_HANDLERS = ("dispatch", "get", "head", "options", "http_method_not_allowed", "setup")
_HOOK_NAMES: dict[type, frozenset[str]] = {}


def base_view(view_class: type) -> type:
    """``HealthCheckView``: the first class of ``view_class``'s ancestry to carry the endpoint marker.

    Found by its ``health_check_endpoint`` marker (as the URLconf discovery finds views), so this
    module need not import ``health_check.views``, which imports it.
    """
    return next(klass for klass in reversed(view_class.__mro__) if "health_check_endpoint" in vars(klass))


def hook_names(base: type) -> frozenset[str]:
    """Methods whose override in a subclass makes the endpoint build an instance per request."""
    names = _HOOK_NAMES.get(base)
    if names is None:
        names = _HOOK_NAMES[base] = frozenset(
            name
            for klass in base.__mro__
            if klass is not object
            for name, value in vars(klass).items()
            if callable(value) or isinstance(value, (staticmethod, classmethod, property))
        ) - {"as_view", "__init_subclass__"}
    return names


def needs_instance(view: Any, base: type) -> bool:
    """Whether attributes (not methods) of ``view`` reach past what ``Responder.respond()`` answers.

    ``extra_context`` and a template of the project's own end up in a template that may read anything
    of the request's view (``{{ view.request }}``); ``http_method_names`` is what ``dispatch()``
    admits. Such an endpoint is served by an instance per request, as Django serves views.
    """
    return (
        view.extra_context is not None
        or view.template_name != base.template_name  # type: ignore[attr-defined]
        or tuple(view.http_method_names) != tuple(base.http_method_names)  # type: ignore[attr-defined]
    )


def overridden(view_class: type, base: type) -> set[str]:
    """The hooks of ``base`` that ``view_class`` or a class between them defines again."""
    hooks = hook_names(base)
    found: set[str] = set()
    for klass in view_class.__mro__:
        if klass is base:
            break
        found |= {name for name in vars(klass) if name in hooks}
    return found


class HealthCheckEndpoint:
    """The callable a URL pattern holds; ``view`` is the endpoint's prototype instance (no request state).

    Keeps ``view_class`` and ``view_initkwargs`` like Django's class-based views, so URL introspection,
    the ``health_check`` command and the poller's endpoint discovery find it.
    """

    def __init__(self, view_class: type[Any], initkwargs: dict[str, Any]) -> None:
        base = base_view(view_class)
        self.view_class = view_class
        self.view_initkwargs = initkwargs
        self.view = view_class(**initkwargs)
        self.responder = self.view._responder = Responder(self.view, base)
        self.overridden = frozenset(overridden(view_class, base))
        self._fast = not self.overridden and not needs_instance(self.view, base)
        self._async_hooks = any(inspect.iscoroutinefunction(getattr(view_class, name, None)) for name in _HANDLERS)
        if "get_checks" in self.overridden:
            # The poller polls what the view's ``checks`` hold: give it what get_checks() yields.
            try:
                self.view.checks = tuple(self.view.get_checks())
            except Exception as error:  # noqa: BLE001 - reported by the endpoint, never a boot failure
                logger.error("%s.get_checks() failed: %s", view_class.__qualname__, describe_error(error))
        self.__name__ = view_class.__name__
        self.__qualname__ = view_class.__qualname__
        self.__module__ = view_class.__module__
        self.__doc__ = view_class.__doc__
        self.__dict__.update(getattr(view_class.dispatch, "__dict__", {}))  # decorators on dispatch, as Django does
        # A probe never touches the database, so ATOMIC_REQUESTS must not wrap it in a transaction.
        self._non_atomic_requests = frozenset(getattr(settings, "DATABASES", {}) or {"default"})

    def __call__(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        if self._fast:
            if asyncio._get_running_loop() is not None:
                return self._respond_async(request, args, kwargs)
            return self.responder.respond(request, args, kwargs)
        if self._async_hooks:
            return self._dispatch_async(request, args, kwargs)
        if asyncio._get_running_loop() is not None:
            return ready(self._dispatch(request, args, kwargs))
        return self._dispatch(request, args, kwargs)

    async def _respond_async(
        self, request: HttpRequest, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> HttpResponseBase:
        return self.responder.respond(request, args, kwargs)

    def _instance(self, request: HttpRequest, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        view = self.view_class(**self.view_initkwargs)
        view._responder = self.responder
        view._async_hooks = self._async_hooks
        view.setup(request, *args, **kwargs)
        if not hasattr(view, "request"):
            raise AttributeError(
                f"{self.view_class.__name__} instance has no 'request' attribute. Did you override setup() "
                "and forget to call super()?"
            )
        return view

    def _dispatch(self, request: HttpRequest, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        return self._instance(request, args, kwargs).dispatch(request, *args, **kwargs)

    async def _dispatch_async(self, request: HttpRequest, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        response = self._instance(request, args, kwargs).dispatch(request, *args, **kwargs)
        while inspect.isawaitable(response):
            response = await response
        return response

    @property
    def _is_coroutine(self) -> object:  # Python 3.11's asyncio.iscoroutinefunction()
        return _COROUTINE_MARK_311 if self._async_hooks or asyncio._get_running_loop() is not None else None

    @property
    def _is_coroutine_marker(self) -> object:  # Python 3.12+'s inspect.iscoroutinefunction()
        return _COROUTINE_MARK_312 if self._async_hooks or asyncio._get_running_loop() is not None else None

    def __repr__(self) -> str:
        return f"<{self.view_class.__qualname__} endpoint>"
