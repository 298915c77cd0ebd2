"""Exceptions a check raises to report what is wrong.

Hierarchy (names kept from django-health-check so existing checks work unchanged)::

    HealthCheckError (alias HealthCheckException)    "Unknown Error"
    ├── ServiceWarning                               "Warning"   (degraded, still working)
    │   └── StatusPageWarning                        "Warning"   (an upstream status page reports trouble)
    ├── ServiceUnavailable                           "Unavailable"
    └── ServiceReturnedUnexpectedResult              "Unexpected Result"

``str(error)`` is ``"<message_type>: <message>"``: that exact line is what the JSON and text outputs show,
and what tools compare against "OK".
"""

from __future__ import annotations

import datetime
from typing import Any

from django.utils import timezone

__all__ = [
    "CheckConfigurationError",
    "HealthCheckError",
    "HealthCheckException",
    "ServiceReturnedUnexpectedResult",
    "ServiceUnavailable",
    "ServiceWarning",
    "StatusPageWarning",
]


class HealthCheckError(Exception):
    """Raised by a check when the service fails in a way it has no narrower class for."""

    message_type: str = "Unknown Error"

    def __init__(
        self,
        message: str,
        *,
        timestamp: datetime.datetime | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.timestamp = timezone.now() if timestamp is None else timestamp
        #: JSON-safe facts kept in the snapshot (e.g. the upstream incidents behind a warning).
        self.details = details

    def __str__(self) -> str:
        return f"{self.message_type}: {self.message}"


#: The name django-health-check 4.x used; kept so ``except HealthCheckException`` still works.
HealthCheckException = HealthCheckError


class ServiceWarning(HealthCheckError):
    """Raised when a service works but is degraded (a threshold is crossed)."""

    message_type = "Warning"


class StatusPageWarning(ServiceWarning):
    """Raised when an upstream provider's status page reports an incident; ``timestamp`` is the provider's."""


class ServiceUnavailable(HealthCheckError):
    """Raised when a service cannot be reached or refuses to work."""

    message_type = "Unavailable"


class ServiceReturnedUnexpectedResult(HealthCheckError):
    """Raised when a service answers, but not with what the check expected."""

    message_type = "Unexpected Result"


class CheckConfigurationError(Exception):
    """Raised at start-up when a ``checks=`` entry cannot be turned into a check (import or arguments)."""
