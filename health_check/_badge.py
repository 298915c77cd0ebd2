"""A status badge: the endpoint's state in two words, drawn as shields.io draws its flat badges.

The README of a project, a wiki page or a dashboard shows ``?format=svg`` as an image; shields.io can
draw its own from ``?format=shields`` (its endpoint schema). Both say the same: a label (the view's
``badge_label``, "health" by default) and the endpoint's worst state, coloured per state.

Text widths come from a table of Verdana 11 px advances (the font shields.io measures with), so the
badge needs no font on the server and no outside asset in the browser.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from xml.sax.saxutils import escape, quoteattr

from health_check.snapshot import Reading, State

__all__ = ["COLOURS", "SHIELDS_COLOURS", "badge_label", "badge_state", "badge_svg", "text_width"]

#: The badge's word for the endpoint's worst state.
WORDS = {
    State.OK: "ok",
    State.WARNING: "warning",
    State.ERROR: "failing",
    State.STALE: "stale",
    State.PENDING: "pending",
    State.MAINTENANCE: "maintenance",
}
#: Fill per state (shields.io's brightgreen, yellow, red, lightgrey, lightgrey, blue, blue).
COLOURS = {
    "ok": "#4c1",
    "warning": "#dfb317",
    "failing": "#e05d44",
    "stale": "#9f9f9f",
    "pending": "#9f9f9f",
    "maintenance": "#007ec6",
    "draining": "#007ec6",
}
#: shields.io's named colours for the endpoint JSON.
SHIELDS_COLOURS = {
    "ok": "brightgreen",
    "warning": "yellow",
    "failing": "red",
    "stale": "lightgrey",
    "pending": "lightgrey",
    "maintenance": "blue",
    "draining": "blue",
}
_WORST = (State.ERROR, State.STALE, State.PENDING, State.WARNING, State.MAINTENANCE)
#: Longest label drawn (characters): the label is the project's, but a badge stays a badge.
MAX_LABEL = 40

# Verdana 11 px advance widths (px), as shields.io measures; anything else counts as a wide letter.
_NARROW = dict.fromkeys("fijlrt.,:;'!|() ", 3.9)
_NARROW.update({"f": 3.9, "i": 3.1, "j": 3.4, "l": 3.1, "r": 4.7, "t": 4.3, " ": 3.9, "-": 4.7})
_WIDE = dict.fromkeys("mwMW", 10.5)
_UPPER = 7.5
_OTHER = 6.8


def text_width(text: str) -> float:
    """The width of ``text`` in Verdana 11 px, in pixels (an estimate good to a pixel or two)."""
    width = 0.0
    for char in text:
        if char in _NARROW:
            width += _NARROW[char]
        elif char in _WIDE:
            width += _WIDE[char]
        elif char.isupper():
            width += _UPPER
        else:
            width += _OTHER
    return width


def badge_state(readings: Iterable[Reading]) -> str:
    """The badge's word for these readings: their worst state's ("ok" for none); "draining" for a drain."""
    readings = list(readings)
    if any(reading.labels.get("check") == "Drain" and reading.snapshot is None for reading in readings):
        return "draining"  # the reading a readiness endpoint adds while its host drains
    states = {reading.state for reading in readings}
    for state in _WORST:
        if state in states:
            return WORDS[state]
    return WORDS[State.OK]


def badge_label(label: str) -> str:
    """The label as drawn: one line, at most ``MAX_LABEL`` characters."""
    text = " ".join(str(label).split()) or "health"
    return text if len(text) <= MAX_LABEL else text[: MAX_LABEL - 1] + "…"


def badge_svg(label: str, message: str, colour: str) -> str:
    """A flat badge: ``label`` on grey, ``message`` on ``colour``; accessible (``role="img"``, a title)."""
    label, message = badge_label(label), badge_label(message)
    left = round(text_width(label) + 10)
    right = round(text_width(message) + 10)
    total = left + right
    title = f"{label}: {message}"
    # Ids of its own: badges inlined in one HTML page share one id space, and a clip path of another
    # badge's width would cut this one.
    tag = hashlib.blake2b(f"{title}|{colour}".encode(), digest_size=4).hexdigest()
    gradient, clip = f"s{tag}", f"r{tag}"
    # Text is drawn at 10x and scaled down, as shields.io does, for sharp sub-pixel positions.
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{total}" height="20" role="img" '
        f"aria-label={quoteattr(title)}>"
        f"<title>{escape(title)}</title>"
        f'<linearGradient id="{gradient}" x2="0" y2="100%"><stop offset="0" stop-color="#bbb" stop-opacity=".1"/>'
        '<stop offset="1" stop-opacity=".1"/></linearGradient>'
        f'<clipPath id="{clip}"><rect width="{total}" height="20" rx="3" fill="#fff"/></clipPath>'
        f'<g clip-path="url(#{clip})"><rect width="{left}" height="20" fill="#555"/>'
        f'<rect x="{left}" width="{right}" height="20" fill={quoteattr(colour)}/>'
        f'<rect width="{total}" height="20" fill="url(#{gradient})"/></g>'
        '<g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,sans-serif" '
        'text-rendering="geometricPrecision" font-size="110">'
        f'<text aria-hidden="true" x="{left * 5}" y="150" fill="#010101" fill-opacity=".3" transform="scale(.1)">'
        f"{escape(label)}</text>"
        f'<text x="{left * 5}" y="140" transform="scale(.1)">{escape(label)}</text>'
        f'<text aria-hidden="true" x="{left * 10 + right * 5}" y="150" fill="#010101" fill-opacity=".3" '
        f'transform="scale(.1)">{escape(message)}</text>'
        f'<text x="{left * 10 + right * 5}" y="140" transform="scale(.1)">{escape(message)}</text>'
        "</g></svg>"
    )
