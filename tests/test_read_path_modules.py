"""The read path's modules after their split: the old import paths still work (``__all__``: test_public_api)."""

from __future__ import annotations

import importlib

import pytest

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
