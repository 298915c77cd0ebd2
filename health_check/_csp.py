"""The status page's Content-Security-Policy: its inline stylesheet's hash, the policy, the header.

The header is written the way Django 6.1's CSP middleware writes it, and on Django 5.2 too, so the page
sends the same policy whether or not a project runs that middleware.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

__all__ = ["CSP", "NONE", "csp_config", "csp_header", "stylesheet_hash"]

try:  # Django 6.1: the CSP middleware reads a response's policy from here (what csp_override() sets)
    from django.utils.csp import CSP

    NONE = str(CSP.NONE)
except ImportError:  # Django 5.2: we send the header ourselves either way
    CSP = None  # type: ignore[misc,assignment]
    NONE = "'none'"


def stylesheet_hash(stylesheet: str) -> str:
    """The base64 SHA-256 digest of ``stylesheet``: its CSP Level 2 hash source."""
    return base64.b64encode(hashlib.sha256(stylesheet.encode()).digest()).decode()


def csp_config(stylesheet_hash: str) -> dict[str, list[str]]:
    """The policy of the default page: nothing but the inline style whose hash is ``stylesheet_hash``."""
    # The default page needs nothing but its own inline style: a strict policy lets exactly that through
    # (CSP Level 2 hash source), so the page works behind a strict site-wide CSP too.
    return {
        "default-src": [NONE],
        "style-src": [f"'sha256-{stylesheet_hash}'"],
        "base-uri": [NONE],
        "form-action": [NONE],
        "frame-ancestors": [NONE],
    }


_CSP_HEADERS: dict[int, tuple[Any, str]] = {}


def csp_header(config: dict[str, Any]) -> str:
    """The header of ``config``; memoised by identity (a class attribute, read per page served)."""
    known = _CSP_HEADERS.get(id(config))
    if known is not None and known[0] is config:
        return known[1]
    header = "; ".join(
        f"{name} {' '.join(map(str, values))}" if values else name
        for name, values in config.items()
        if values is not None
    )
    if len(_CSP_HEADERS) < 64:  # bounded: configs are class attributes, a handful per project
        _CSP_HEADERS[id(config)] = (config, header)
    return header
