"""Who asks: pick a renderer from ``?format=`` or the Accept header, or answer 406.

Negotiation only picks; it never renders (like DRF's ``negotiation.py``). The Accept header is parsed
leniently (RFC 9110 §12.5.1): parameters in any order, ``q`` anywhere, quoted values that contain
commas, and garbage entries skipped instead of failing the request. ``q=0`` means "not acceptable".
Results are memoised per (format, Accept) pair, since probes send the same header every time.

``MediaType`` is django-health-check's Accept parser, kept for code written against it; the endpoints
do not use it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Sequence

from health_check.renderers import Renderer

__all__ = ["MAX_ACCEPT_LENGTH", "MediaType", "NotAcceptable", "parse_accept", "select_renderer"]

#: Longer Accept headers are cut here: enough for any real client, bounded work for hostile ones.
MAX_ACCEPT_LENGTH = 2048
_MAX_RANGES = 64
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


class NotAcceptable(Exception):
    """Raised when nothing the client accepts can be rendered; carries the supported types."""

    def __init__(self, renderers: Sequence[type[Renderer]]) -> None:
        self.supported = ", ".join(dict.fromkeys(renderer.media_type for renderer in renderers))  # each type once
        super().__init__(f"Not Acceptable: Supported content types: {self.supported}")


#: django-health-check's grammar: a type and subtype (word characters, the subtype also ``-+.``, or
#: ``*``), an optional ``q`` as the first parameter (at most three decimals), then ``token=token`` only;
#: the whole entry (``MediaType.pattern``, read with ``search()`` as there).
_MEDIA_TYPE = re.compile(
    r"^(?P<mime_type>(?:\w+|\*)/(?:[\w\-+.]+|\*))"
    r"(?:\s*;\s*q=(?P<weight>1(?:\.0{1,3})?|0(?:\.[0-9]{1,3})?))?"
    r"(?:\s*;\s*[-!#$%&'*+.^_`|~0-9a-zA-Z]+=[-!#$%&'*+.^_`|~0-9a-zA-Z]+)*\Z"
)


class MediaType:
    """One media range of an Accept header and its weight, as django-health-check's ``MediaType``.

    Instances sort by weight only (``sorted(..., reverse=True)`` keeps equal weights in header order),
    are equal when type and weight are, and read ``text/html; q=0.5`` (``repr``: ``MediaType: text/html;
    q=0.5``). Kept for code written against django-health-check; the endpoints negotiate with
    ``select_renderer()``, which also reads parameters in any order and skips what it cannot read.

    Args:
        mime_type: ``type/subtype``, either may be ``*``; not validated, as in django-health-check.
        weight: The ``q`` value, 0 to 1.
    """

    #: The grammar of one entry, with groups ``mime_type`` and ``weight``; ``from_string()`` searches it.
    pattern: re.Pattern[str] = _MEDIA_TYPE

    def __init__(self, mime_type: str, weight: float = 1.0) -> None:
        self.mime_type = mime_type
        self.weight = float(weight)

    @classmethod
    def from_string(cls, value: str) -> MediaType:
        """The media range ``value`` (one entry of an Accept header); ``ValueError`` if it is not one."""
        match = cls.pattern.search(value) if isinstance(value, str) else None
        if match is None:
            shown = value if len(str(value)) <= 200 else f"{str(value)[:199]}…"
            raise ValueError(f'"{shown}" is not a valid media type')
        return cls(match.group("mime_type"), float(match.group("weight") or 1))

    @classmethod
    def parse_header(cls, value: str | None = "*/*") -> Iterator[MediaType]:
        """The media ranges of an Accept header, highest weight first (header order among equals).

        Unlike django-health-check, an entry that is not a media range is skipped rather than raising
        ``ValueError`` (there, a client's malformed header made the endpoint answer 500), the work is
        bounded like ``parse_accept()``'s (the first ``MAX_ACCEPT_LENGTH`` characters, 64 entries), and
        ``None`` (no header) reads as ``*/*``.
        """
        if value is None:
            value = "*/*"
        ranges = []
        for token in value[:MAX_ACCEPT_LENGTH].split(",")[:_MAX_RANGES]:
            token = token.strip()
            if token:
                try:
                    ranges.append(cls.from_string(token))
                except ValueError:
                    continue
        yield from sorted(ranges, reverse=True)

    def __str__(self) -> str:
        return f"{self.mime_type}; q={self.weight}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}: {self}"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MediaType):
            return NotImplemented
        return self.weight == other.weight and self.mime_type == other.mime_type

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, MediaType):
            return NotImplemented
        return self.weight < other.weight

    __hash__ = None  # type: ignore[assignment]  # mutable and compared by value, as there


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
