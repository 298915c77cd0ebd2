"""Store URLs in messages: never with their credentials (one helper for the whole package, re-exported here)."""

from __future__ import annotations

from health_check._urls import redact_url

__all__ = ["redact_url"]
