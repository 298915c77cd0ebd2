"""Health endpoints answered before any other middleware, whatever the request's Host header.

The kubelet probes a pod by its IP and load balancers send their own address as ``Host``: Django answers
400 to both unless ``ALLOWED_HOSTS`` admits every host, and ``SECURE_SSL_REDIRECT`` answers a plain-HTTP
probe with a 301 it cannot follow. ``HealthCheckMiddleware``, first in ``MIDDLEWARE``, serves a request
whose path resolves to a health endpoint by calling the endpoint itself, so neither SecurityMiddleware's
redirect nor CommonMiddleware's ``get_host()`` runs; any other URL goes down the chain and still gets
Django's 400. Nothing in a health answer is built from an unvalidated Host (``_request.absolute_url()``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from asgiref.sync import async_to_sync, iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.conf import settings
from django.http import HttpRequest, HttpResponseBase
from django.middleware.security import SecurityMiddleware
from django.urls import Resolver404, ResolverMatch, URLResolver, get_resolver, get_urlconf

from health_check.urlconf import endpoint_resolver, is_endpoint_view

__all__ = ["MAX_PATHS", "MIDDLEWARE_PATH", "HealthCheckMiddleware"]

#: How MIDDLEWARE names it; system check health_check.W005 looks for this entry.
MIDDLEWARE_PATH = "health_check.middleware.HealthCheckMiddleware"
#: Paths whose resolution is remembered, at most: a scan of random URLs must not grow it.
MAX_PATHS = 1024
_UNKNOWN = object()
_SECURITY_MIDDLEWARE = "django.middleware.security.SecurityMiddleware"


class HealthCheckMiddleware:
    """Serve health endpoints whatever their Host header and scheme; pass every other request on.

    A health endpoint is a URL pattern whose view is a ``HealthCheckView`` endpoint (``as_view()``,
    possibly decorated). Its answer skips the middleware listed after this one; if SecurityMiddleware is
    installed, its response headers (``X-Content-Type-Options``, ``Referrer-Policy``, HSTS on HTTPS...)
    are still added, without its redirect.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self.async_mode = iscoroutinefunction(get_response)
        if self.async_mode:
            markcoroutinefunction(self)
        self._security: Callable[[HttpRequest, Any], Any] | None = None
        if _SECURITY_MIDDLEWARE in settings.MIDDLEWARE:
            self._security = SecurityMiddleware(get_response).process_response
        # The URLconf's resolver, the same pruned to the endpoints, and path -> match (None: not an endpoint).
        self._index: tuple[Any, URLResolver | None, dict[str, ResolverMatch | None]] = (None, None, {})

    def __call__(self, request: HttpRequest) -> Any:
        if self.async_mode:
            return self.__acall__(request)
        match = self.endpoint(request)
        if match is None:
            return self.get_response(request)
        request.resolver_match = match
        view = match.func
        if iscoroutinefunction(view):  # a subclass with async def hooks, as Django's handler runs it
            response = async_to_sync(view)(request, *match.args, **match.kwargs)
        else:
            response = view(request, *match.args, **match.kwargs)
        return self._finish(request, _rendered(response), view)

    async def __acall__(self, request: HttpRequest) -> Any:
        match = self.endpoint(request)
        if match is None:
            return await self.get_response(request)
        request.resolver_match = match
        view = match.func
        if iscoroutinefunction(view):  # the endpoint itself under ASGI: no thread hop
            response = await view(request, *match.args, **match.kwargs)
        else:  # a decorator's sync wrapper, run in a thread as Django's handler runs sync views
            response = await sync_to_async(view, thread_sensitive=True)(request, *match.args, **match.kwargs)
        if not getattr(response, "is_rendered", True):
            response = await sync_to_async(response.render, thread_sensitive=True)()
        return self._finish(request, response, view)

    def endpoint(self, request: HttpRequest) -> ResolverMatch | None:
        """The resolution of ``request.path_info`` if a health endpoint serves it.

        Most requests are for the rest of the site: a resolver holding only the endpoints' patterns turns
        them down after a few patterns. A path it resolves is resolved again by the whole URLconf (an
        earlier pattern may serve it). Either answer is remembered per path, so a path asked again
        costs a dictionary lookup.
        """
        resolver = get_resolver(get_urlconf())
        resolved_by, endpoints, paths = self._index
        if resolver is not resolved_by:  # another URLconf (override_settings, clear_url_caches())
            endpoints, paths = endpoint_resolver(resolver), {}
            self._index = (resolver, endpoints, paths)
        if endpoints is None:
            return None
        path = request.path_info
        match = paths.get(path, _UNKNOWN)
        if match is not _UNKNOWN:
            return match  # type: ignore[return-value]
        try:
            endpoints.resolve(path)
            match = resolver.resolve(path)
        except Resolver404:
            match = None
        if match is not None and not is_endpoint_view(getattr(match.func, "view_class", None)):
            match = None
        if len(paths) >= MAX_PATHS:
            paths.clear()
        paths[path] = match
        return match

    def _finish(self, request: HttpRequest, response: Any, view: Any) -> HttpResponseBase:
        """What the skipped middleware would have added that a client relies on."""
        if not isinstance(response, HttpResponseBase):  # Django's handler, which never sees this view, would say so
            raise ValueError(
                f"The view {view!r} didn't return an HttpResponse object. It returned {response!r} instead."
            )
        if not response.streaming and not response.has_header("Content-Length"):
            # CommonMiddleware's job, skipped: without a length an HTTP/1.0 client reads until the close.
            response["Content-Length"] = str(len(response.content))  # type: ignore[attr-defined]
        if self._security is not None:
            response = self._security(request, response)
        return response


def _rendered(response: Any) -> Any:
    """A ``TemplateResponse`` rendered, as Django's handler renders it after the view (a no-op if it was)."""
    if not getattr(response, "is_rendered", True):
        return response.render()
    return response
