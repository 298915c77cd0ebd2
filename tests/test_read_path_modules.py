"""The read path's modules: each private module's ``__all__`` is what it defines, and the old import paths still work."""

from __future__ import annotations

import importlib
import inspect

import pytest

MODULES = [
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

#: What code written before the split imports from the two public modules of the "who asks" stage.
KEPT = {
    "health_check.views": [
        "FEED_ITEMS",
        "HealthCheckEndpoint",
        "HealthCheckResult",
        "HealthCheckView",
        "MAX_BODIES",
        "MediaType",
        "PAGE_ITEMS_PER_CHECK",
        "STATE_SECONDS",
    ],
    "health_check.renderers": [
        "DEFAULT_RENDERERS",
        "DEFAULT_TEMPLATE",
        "MIN_SEGMENT",
        "NO_DATA",
        "STYLESHEET",
        "AtomRenderer",
        "HTMLRenderer",
        "HealthJSONRenderer",
        "JSONRenderer",
        "OpenMetricsRenderer",
        "RSSRenderer",
        "RenderContext",
        "Renderer",
        "TextRenderer",
        "escape_label",
        "format_labels",
        "reported_since",
        "timeline",
    ],
}


@pytest.mark.parametrize("module_name", MODULES)
def test_read_path_module__all_lists_what_it_defines(module_name):
    """``__all__`` holds every class and function the module defines without an underscore, and only names it has."""
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


@pytest.mark.parametrize("module_name", sorted(KEPT))
def test_read_path_module__old_import_paths_kept(module_name):
    """Every name a project may import from health_check.views or health_check.renderers is still there."""
    module = importlib.import_module(module_name)
    assert [name for name in KEPT[module_name] if not hasattr(module, name)] == []


def test_read_path_module__status_page_names_are_the_renderers_names():
    """``health_check.renderers.timeline`` and friends are the status page's own objects, not copies."""
    renderers = importlib.import_module("health_check.renderers")
    status_page = importlib.import_module("health_check.status_page")
    for name in ("DEFAULT_TEMPLATE", "MIN_SEGMENT", "NO_DATA", "STYLESHEET", "reported_since", "timeline"):
        assert getattr(renderers, name) is getattr(status_page, name)
