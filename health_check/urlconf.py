"""Every health endpoint of the URLconf: what the poller polls and the system checks examine.

An endpoint is a URL pattern whose view class says it is one (``health_check_endpoint = True``, set by
``HealthCheckView``), so this module needs no view code and the views may come later in the stages.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Iterable, Iterator
from typing import Any

from django.urls import URLPattern, URLResolver, get_resolver

__all__ = ["Endpoint", "endpoint_resolver", "is_endpoint_view", "iter_endpoints"]


def is_endpoint_view(view_class: Any) -> bool:
    """Whether ``view_class`` serves health endpoints (``HealthCheckView`` and its subclasses)."""
    return inspect.isclass(view_class) and getattr(view_class, "health_check_endpoint", False) is True


@dataclasses.dataclass(frozen=True, slots=True)
class Endpoint:
    """A ``HealthCheckView`` found in the URLconf."""

    name: str | None
    route: str
    view: Any  # the callable returned by HealthCheckView.as_view()
    #: The namespaces of the ``include()``s it is in, joined as ``reverse()`` takes them: ``"api:v1"``.
    namespace: str = ""

    @property
    def label(self) -> str:
        return f"{self.name!r} ({self.route})" if self.name else f"at {self.route}"

    @property
    def qualified_name(self) -> str | None:
        """The name ``reverse()`` (and ``manage.py health_check``) takes: ``"api:health"``; ``None`` unnamed."""
        if not self.name:
            return None
        return f"{self.namespace}:{self.name}" if self.namespace else self.name


def iter_endpoints(urlconf: str | None = None) -> Iterator[Endpoint]:
    """Every URL pattern in the URLconf whose view is a ``HealthCheckView``."""

    def walk(patterns: Iterable[Any], prefix: str, namespace: str) -> Iterator[Endpoint]:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                inner = f"{namespace}:{pattern.namespace}" if namespace and pattern.namespace else namespace
                yield from walk(pattern.url_patterns, prefix + str(pattern.pattern), inner or pattern.namespace or "")
            elif isinstance(pattern, URLPattern):
                if is_endpoint_view(getattr(pattern.callback, "view_class", None)):
                    yield Endpoint(
                        name=pattern.name,
                        route=prefix + str(pattern.pattern),
                        view=pattern.callback,
                        namespace=namespace,
                    )

    yield from walk(get_resolver(urlconf).url_patterns, "/", "")


def endpoint_resolver(resolver: URLResolver) -> URLResolver | None:
    """``resolver`` pruned to the patterns that lead to a health endpoint, in their order (None: there are none).

    A path it cannot resolve is no health endpoint's, which costs a walk of a few patterns instead of the
    whole URLconf. A path it resolves may still belong to an earlier pattern of the full URLconf: ask that.
    """
    patterns: list[URLPattern | URLResolver] = []
    for pattern in resolver.url_patterns:
        if isinstance(pattern, URLResolver):
            pruned = endpoint_resolver(pattern)
            if pruned is not None:
                patterns.append(pruned)
        elif isinstance(pattern, URLPattern) and is_endpoint_view(getattr(pattern.callback, "view_class", None)):
            patterns.append(pattern)
    if not patterns:
        return None
    return URLResolver(resolver.pattern, patterns, resolver.default_kwargs, resolver.app_name, resolver.namespace)
