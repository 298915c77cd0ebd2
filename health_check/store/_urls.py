"""Store URLs in messages: never with their credentials."""

from __future__ import annotations

import urllib.parse

__all__ = ["redact_url"]


def redact_url(url: str) -> str:
    """``url`` without user name, password and query: ``redis://cache:6379/0``."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    netloc = parts.netloc.rpartition("@")[2]
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))
