"""From ``checks=`` entries to resolved checks: instance, public name, store key, labels, scope.

Entries are resolved once per process (when the poller starts, when system checks run, on an
endpoint's first request), never per request. A bad entry becomes an ``EntryError`` that names the
entry without its arguments' values (they may hold credentials); system checks report it at start-up,
and the endpoint shows it as a failing check instead of crashing.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Iterable, Mapping
from typing import Any

from django.utils.module_loading import import_string

from health_check.base import SCOPES, HealthCheck
from health_check.exceptions import CheckConfigurationError
from health_check.identity import check_key, public_name

__all__ = ["CheckSpec", "EntryError", "check_title", "describe_entry", "resolve_entries", "resolve_entry"]


@dataclasses.dataclass(frozen=True, slots=True)
class CheckSpec:
    """A resolved check: its instance, its public name, its store key and its OpenMetrics labels.

    Name and labels are computed once: some checks build them from a client (``Redis``).
    """

    check: HealthCheck
    name: str
    key: str
    labels: Mapping[str, str] = dataclasses.field(default_factory=dict)
    #: What feed items and the status page call the check (see ``check_title()``).
    title: str = ""
    scope: str = "host"

    @classmethod
    def of(cls, check: HealthCheck, host: str | None = None) -> CheckSpec:
        """Resolve ``check``; ``host`` is the host identity of a store shared by hosts, else ``None``.

        In a shared store a host-scoped check's key ends in ``@<host>``, so every host writes and
        reads its own snapshot; a fleet-scoped check keeps one key for the whole fleet.
        """
        try:
            labels = dict(check.labels)
        except Exception:  # a user's broken labels must not break the endpoint
            labels = {"check": type(check).__name__}
        scope = getattr(check, "effective_scope", "host")
        if scope not in SCOPES:
            raise CheckConfigurationError(
                f"{type(check).__qualname__}.default_scope is {scope!r}, expected one of {', '.join(map(repr, SCOPES))}"
            )
        key = check_key(check)
        if host is not None and scope == "host":
            key = f"{key}@{host}"
        name = public_name(check)
        return cls(check=check, name=name, key=key, labels=labels, scope=scope, title=check_title(check, name))


@dataclasses.dataclass(frozen=True, slots=True)
class EntryError:
    """A ``checks=`` entry that could not be turned into a check."""

    entry: str
    message: str


def check_title(check: Any, name: str) -> str:
    """What a human reads first in a feed item: the check's ``title`` when it has one, else ``name``.

    Upstream checks say ``"GitHub Actions"`` where their ``repr()`` says
    ``"GitHub(component='Actions')"``; any check may define a ``title`` property. A missing, empty or
    broken one falls back to the public name, so a user's property can never break the poller.
    """
    try:
        title = getattr(check, "title", None)
    except Exception:  # a user's property that raises
        return name
    return " ".join(title.split()) if isinstance(title, str) and title.strip() else name


def describe_entry(entry: Any) -> str:
    """The entry as a user wrote it, with keyword values hidden: ``('...RabbitMQ', {'amqp_url': …})``."""
    target, options = _split(entry)
    if isinstance(target, type):
        target = f"{target.__module__}.{target.__qualname__}"
    if options is None:
        return repr(target) if isinstance(target, str) else str(target)
    if isinstance(options, dict):
        hidden = ", ".join(f"{key!r}: …" for key in options)
        return f"({target!r}, {{{hidden}}})"
    return f"({target!r}, <{type(options).__name__}>)"


def _split(entry: Any) -> tuple[Any, Any]:
    if isinstance(entry, (tuple, list)) and len(entry) == 2 and not isinstance(entry[0], (tuple, list)):
        return entry[0], entry[1]
    return entry, None


def resolve_entry(entry: Any) -> HealthCheck:
    """Instantiate one entry: a class, a dotted path, or ``(class or path, kwargs)``.

    Raises ``CheckConfigurationError`` with a message that says what is wrong and what to do.
    """
    target, options = _split(entry)
    if options is not None and not isinstance(options, dict):
        raise CheckConfigurationError(
            f"the second item of a (check, kwargs) tuple must be a dict, got {type(options).__name__}"
        )
    if isinstance(target, str):
        try:
            target = import_string(target)
        except ModuleNotFoundError as error:
            raise CheckConfigurationError(
                f"cannot import {target!r}: {error}. Install the extra that provides it, "
                'e.g. pip install "django-health-snapshot[psutil]"'
            ) from error
        except ImportError as error:
            raise CheckConfigurationError(f"cannot import {target!r}: {error}") from error
        except Exception as error:  # the module itself fails at import (its own settings, a broken dependency)
            raise CheckConfigurationError(f"cannot import {target!r}: {type(error).__name__}: {error}") from error
    if isinstance(target, HealthCheck):
        if options:
            raise CheckConfigurationError("kwargs given for a check that is already an instance")
        return target
    if not (inspect.isclass(target) and issubclass(target, HealthCheck)):
        raise CheckConfigurationError(
            f"{target!r} is not a health_check.base.HealthCheck subclass; "
            "give a check class, its dotted path, or a (class or path, kwargs) tuple"
        )
    if inspect.isabstract(target):
        raise CheckConfigurationError(f"{target.__qualname__} is abstract (it does not implement run())")
    try:
        return target(**(options or {}))
    except (TypeError, ValueError) as error:
        raise CheckConfigurationError(f"{target.__qualname__} cannot be built: {error}") from error
    except Exception as error:  # e.g. ImproperlyConfigured from __post_init__: still one failing row, not a 500
        raise CheckConfigurationError(
            f"{target.__qualname__} cannot be built: {type(error).__name__}: {error}"
        ) from error


def resolve_entries(entries: Iterable[Any], *, host: str | None = None) -> tuple[list[CheckSpec], list[EntryError]]:
    """Resolve every entry; duplicates (same key) are kept once, in first-seen order.

    ``host``: see ``CheckSpec.of``; pass ``Store.host_id`` of the store the snapshots are in.
    """
    specs: list[CheckSpec] = []
    errors: list[EntryError] = []
    seen: set[str] = set()
    for entry in entries:
        try:
            spec = CheckSpec.of(resolve_entry(entry), host)
        except CheckConfigurationError as error:
            errors.append(EntryError(entry=describe_entry(entry), message=str(error)))
            continue
        if spec.key not in seen:
            seen.add(spec.key)
            specs.append(spec)
    return specs, errors
