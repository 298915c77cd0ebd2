"""The view scenarios' URLs plus what HealthCheckMiddleware must tell apart from them (tests/test_middleware.py).

A plain view (the rest of a site, which keeps Django's host validation), a decorated endpoint (a sync
wrapper, as ``never_cache`` makes), a subclass with an ``async def`` hook (a coroutine view), an endpoint
inside a namespaced ``include()``, and an endpoint whose route an earlier page pattern shadows for one path.
"""

import functools

from django.http import HttpResponse
from django.urls import include, path
from django.views.decorators.cache import never_cache

from health_check.views import HealthCheckView
from tests.testapp.urls_views import SAMPLES
from tests.testapp.urls_views import urlpatterns as view_patterns


class AsyncGet(HealthCheckView):
    """A django-health-check style subclass: ``async def get`` awaiting ``super().get()``."""

    async def get(self, request, *args, **kwargs):
        response = await super().get(request, *args, **kwargs)
        response["X-Async"] = "yes"
        return response


def forgetful(view):
    """A decorator that forgets to return the view's response."""

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        view(request, *args, **kwargs)

    return wrapper


def page(request, *args, **kwargs):
    return HttpResponse("site page", content_type="text/plain")


urlpatterns = [
    *view_patterns,
    path("health/never-cache/", never_cache(HealthCheckView.as_view(checks=SAMPLES)), name="hosts-never-cache"),
    path("health/async/", AsyncGet.as_view(checks=SAMPLES), name="hosts-async"),
    path("health/no-answer/", forgetful(HealthCheckView.as_view(checks=SAMPLES)), name="hosts-no-answer"),
    path("health/<slug:tier>/page/", page, name="hosts-not-an-endpoint"),
    path("page/", page, name="hosts-page"),
    path("ops/", include(([path("health/", HealthCheckView.as_view(checks=SAMPLES), name="health")], "ops"))),
    path("shadowed/health/", page, name="hosts-shadowing-page"),
    path("shadowed/<slug:name>/", HealthCheckView.as_view(checks=SAMPLES), name="hosts-shadowed"),
]
