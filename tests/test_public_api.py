"""Each module's ``__all__`` names exactly its public classes and functions, so the API cannot drift unseen."""

from __future__ import annotations

import importlib
import inspect

import pytest

import health_check

MODULES = [
    # what to check
    "health_check.base",
    "health_check.checks",
    "health_check.exceptions",
    "health_check.remote",
    "health_check.contrib._upstream",
    "health_check.contrib.atlassian",
    "health_check.contrib.celery",
    "health_check.contrib.crontask",
    "health_check.contrib.kafka",
    "health_check.contrib.psutil",
    "health_check.contrib.rabbitmq",
    "health_check.contrib.redis",
    "health_check.contrib.rss",
    # what we know, and the Django edge: the endpoint index
    "health_check._index",
    "health_check._indexer",
    "health_check.heartbeat",
    "health_check.contrib.heartbeat",
    "health_check.heartbeat_view",
    # who asks: the read path's public and private modules
    "health_check._answers",
    "health_check._csp",
    "health_check._endpoint",
    "health_check._request",
    "health_check._responder",
    "health_check._results",
    "health_check._syndication",
    "health_check.renderers",
    "health_check.status_page",
]


def test_package__all_lists_its_public_names():
    """``health_check.__all__`` is every public name the package defines or re-exports, and nothing else."""
    public = {
        name for name, value in vars(health_check).items() if not name.startswith("_") and not inspect.ismodule(value)
    } | {"__version__"}
    assert sorted(health_check.__all__) == sorted(public)


@pytest.mark.parametrize("module_name", MODULES)
def test_module__all_lists_its_public_classes_and_functions(module_name):
    """A module's ``__all__`` holds every public class and function it defines, and only names it has."""
    module = importlib.import_module(module_name)
    defined = {
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and (inspect.isclass(value) or inspect.isfunction(value))
        and value.__module__ == module_name
    }
    assert sorted(defined - set(module.__all__)) == []
    assert sorted(name for name in module.__all__ if not hasattr(module, name)) == []
