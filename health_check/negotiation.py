"""Who asks: pick a renderer from ``?format=`` or the Accept header, or answer 406.

Negotiation only picks; it never renders (like DRF's ``negotiation.py``). The Accept header is parsed
leniently (RFC 9110 §12.5.1): parameters in any order, ``q`` anywhere, quoted values that contain
commas, and garbage entries skipped instead of failing the request. ``q=0`` means "not acceptable".
Results are memoised per (format, Accept) pair, since probes send the same header every time.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence

from health_check.renderers import Renderer

__all__ = ["MAX_ACCEPT_LENGTH", "NotAcceptable", "parse_accept", "select_renderer"]

#: Longer Accept headers are cut here: enough for any real client, bounded work for hostile ones.
MAX_ACCEPT_LENGTH = 2048
_MAX_RANGES = 64
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


class NotAcceptable(Exception):
    """Raised when nothing the client accepts can be rendered; carries the supported types."""

    def __init__(self, renderers: Sequence[type[Renderer]]) -> None:
        self.supported = ", ".join(renderer.media_type for renderer in renderers)
        super().__init__(f"Not Acceptable: Supported content types: {self.supported}")


def _split_outside_quotes(value: str, separator: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for char in value:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\" and quoted:
            current.append(char)
            escaped = True
        elif char == '"':
            current.append(char)
            quoted = not quoted
        elif char == separator and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def parse_accept(header: str) -> list[tuple[str, float]]:
    """Media ranges of an Accept header with their weights, best first; invalid ranges are dropped."""
    ranges: list[tuple[float, int, str]] = []
    for position, item in enumerate(_split_outside_quotes(header[:MAX_ACCEPT_LENGTH], ",")[:_MAX_RANGES]):
        media_range, *params = (part.strip() for part in _split_outside_quotes(item, ";"))
        kind, slash, subtype = media_range.lower().partition("/")
        if not slash or not _TOKEN.match(kind) or not _TOKEN.match(subtype) or (kind == "*" and subtype != "*"):
            continue
        weight = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    weight = float(value.strip().strip('"'))
                except ValueError:
                    weight = -1.0
                break
        if not 0.0 < weight <= 1.0:
            continue  # q=0 is an explicit refusal; an out-of-range q is malformed
        ranges.append((-weight, position, f"{kind}/{subtype}"))
    ranges.sort()
    return [(media, -negative) for negative, _, media in ranges]


@functools.lru_cache(maxsize=256)
def _select(format_name: str | None, accept: str, renderers: tuple[type[Renderer], ...]) -> type[Renderer]:
    if format_name:
        for renderer in renderers:
            if format_name == renderer.format:
                return renderer
        # An unknown ?format= falls back to the Accept header, as django-health-check does.
    for media, _weight in parse_accept(accept):
        for renderer in renderers:
            if media in renderer.accepts:
                return renderer
    raise NotAcceptable(renderers)


def select_renderer(
    format_name: str | None, accept: str | None, renderers: tuple[type[Renderer], ...]
) -> type[Renderer]:
    """The renderer for this request. A missing Accept header means ``*/*``.

    Raises ``NotAcceptable`` when the client accepts none of ``renderers``.
    """
    if accept is None:
        accept = "*/*"
    if format_name is not None:
        if len(format_name) > 32:
            format_name = None
        elif " " in format_name:
            format_name = format_name.replace(" ", "+")  # ?format=health+json arrives decoded as "health json"
    if len(accept) > 256:  # do not let odd, long headers evict the memo of real probes
        return _select.__wrapped__(format_name, accept, renderers)
    return _select(format_name, accept, renderers)
