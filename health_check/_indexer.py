"""Writing the endpoint index (``health_check._index``) at the Django edge, where the URLconf is imported.

The poller calls ``write_endpoint_index()`` each time it starts polling (``autostart``, and
``health_check_poller --once``): it finds every endpoint URL name exactly as the command does
(``reverse()``, then ``resolve()`` under the command's script prefix), resolves its checks with the
store's host, and writes the index when it differs from the stored one. An endpoint whose answer
depends on code the index cannot replay (a view class overriding ``get_report()``,
``get_check_specs()``, ``get_checks()``, a ``clock=``, a mistyped ``status_codes=`` that the
endpoint logs) is left out: the command imports the URLconf for it, as before. Only what the command
itself prints is replayed: what the project's code prints while its URLconf is imported (a warning,
a ``print()``) is not printed when it is not imported.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import sysconfig
from collections.abc import Iterable, Iterator
from typing import Any

from django.conf import settings
from django.urls import NoReverseMatch, Resolver404, get_script_prefix, resolve, reverse, set_script_prefix

from health_check._endpoint import HealthCheckEndpoint, base_view, overridden
from health_check._index import IndexedCheck, IndexedEndpoint, make_index
from health_check._status_codes import status_code_problems
from health_check._urls import describe_error
from health_check.specs import resolve_entries
from health_check.store.base import Store, StoreError
from health_check.urlconf import iter_endpoints

__all__ = ["build_index", "source_files", "write_endpoint_index"]

logger = logging.getLogger("health_check.index")

#: Hooks whose override puts an endpoint's answer in code the index cannot replay.
_UNREPLAYABLE_HOOKS = frozenset({"get_report", "get_check_specs", "get_checks", "_shared"})


@contextlib.contextmanager
def _command_script_prefix() -> Iterator[None]:
    """The script prefix a management command has (``django.setup()`` sets it), in this thread only."""
    previous = get_script_prefix()
    set_script_prefix("/" if settings.FORCE_SCRIPT_NAME is None else settings.FORCE_SCRIPT_NAME)
    try:
        yield
    finally:
        set_script_prefix(previous)


def _replayable(endpoint: HealthCheckEndpoint) -> bool:
    view = endpoint.view
    view_class = type(view)
    if view.clock is not None or overridden(view_class, base_view(view_class)) & _UNREPLAYABLE_HOOKS:
        return False
    # A mistyped status_codes= is logged when the URLconf's endpoint answers: the command would say so too.
    return not status_code_problems(view.status_codes)


def _modules_of(value: Any) -> set[str]:
    """The modules of ``value``'s class and of every class it inherits from."""
    return {klass.__module__ for klass in type(value).__mro__ if klass is not object}


def build_index(host: str | None) -> dict[str, Any]:
    """The index of the URLconf's endpoints, keyed for a store whose ``host_id`` is ``host``."""
    endpoints: dict[str, IndexedEndpoint] = {}
    modules = {str(settings.SETTINGS_MODULE or ""), str(settings.ROOT_URLCONF)}
    with _command_script_prefix():
        for found in iter_endpoints():
            name = found.qualified_name
            if name is None or name in endpoints:
                continue
            # What the command would find for this name: reverse() may pick another pattern of the same name.
            try:
                path = reverse(name)
                endpoint = resolve(path).func
            except (NoReverseMatch, Resolver404):
                continue
            if not isinstance(endpoint, HealthCheckEndpoint) or not _replayable(endpoint):
                continue
            view = endpoint.view
            specs, errors = resolve_entries(view.checks, host=host)
            endpoints[name] = IndexedEndpoint(
                name=name,
                path=path,
                checks=tuple(IndexedCheck(spec.name, spec.key, dict(spec.labels)) for spec in specs),
                errors=tuple(errors),
                warnings_as_errors=None if view.warnings_as_errors is None else bool(view.warnings_as_errors),
                readiness=bool(view.readiness),
            )
            modules |= _modules_of(view)
            for spec in specs:
                modules |= _modules_of(spec.check)
    return make_index(endpoints.values(), source_files(modules), host)


def source_files(modules: Iterable[str]) -> dict[str, list[str]]:
    """The files whose change may change an endpoint: every loaded module outside the standard library
    and site-packages, and every loaded module of the top-level packages of ``modules`` wherever they are
    (a project installed into site-packages, a check package from PyPI), but Django's. By directory."""
    paths = sysconfig.get_paths()
    installed = {paths[name] for name in ("stdlib", "platstdlib", "purelib", "platlib") if paths.get(name)}
    excluded = tuple(
        os.path.join(candidate, "")
        for path in installed
        for candidate in {os.path.abspath(path), os.path.realpath(path)}
    )
    # Django's own modules (TemplateView, the view's base) are covered by its version in the fingerprint.
    packages = {name.partition(".")[0] for name in modules if name} - set(sys.stdlib_module_names) - {"django"}
    files: dict[str, set[str]] = {}
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if not isinstance(file, str):
            continue
        path = os.path.abspath(file)
        if path.startswith(excluded) and name.partition(".")[0] not in packages:
            continue
        directory, filename = os.path.split(path)
        files.setdefault(directory, set()).add(filename)
    return {directory: sorted(names) for directory, names in sorted(files.items())}


def write_endpoint_index(store: Store) -> bool:
    """Write this host's endpoint index when it differs from the stored one; whether it wrote. Never raises.

    A failure only costs speed: ``health_check --no-http`` imports the URLconf while no current index
    is stored, so it is logged as a warning, once per poller start.
    """
    try:
        index = build_index(store.host_id)
    except Exception as error:  # noqa: BLE001 - the poller polls whatever happens to its index
        logger.warning("Cannot build the endpoint index: %s", describe_error(error))
        return False
    try:
        stored = store.read_index()
    except StoreError:
        stored = None  # written below, or kept by the store until it answers
    if stored == index:
        return False
    try:
        store.write_index(index)
    except (StoreError, ValueError) as error:
        logger.warning(
            "Cannot write the endpoint index to the %s: %s; manage.py health_check --no-http imports the "
            "URLconf until one is written",
            store.description,
            error,
        )
        return False
    files = sum(len(names) for names in index["files"].values())
    logger.info("Wrote the endpoint index: %d endpoints, %d source files", len(index["endpoints"]), files)
    return True
