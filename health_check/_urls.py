"""URLs and error texts as we pass, show and log them: never with a user name or password.

A URL a user configures may carry ``user:password@``. Libraries log the URL they are given (httpx
at INFO on every request) and echo it in their exception messages, so:

- ``split_userinfo`` takes the credentials out before a URL reaches a library, and refuses a URL it
  cannot split for sure (a password with an unescaped ``/``, ``?``, ``#`` or ``@``), because a
  library would read part of the password as a port or a path and show it;
- ``redact_url`` is the URL as shown in messages;
- ``scrub`` strips the userinfo of every URL in a free text (an exception message from a client);
- ``first_line`` is the first line of an error's text, scrubbed and bounded, for messages;
- ``describe_error`` is the one line an unexpected exception is logged as: no traceback, whose frames
  may hold a password.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

__all__ = ["describe_error", "first_line", "redact_url", "scrub", "split_userinfo"]

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://")
#: A scheme and everything up to the last "@" of the same run of non-blank characters: greedy on
#: purpose, so a password holding "/" or "?" goes with the rest of the userinfo.
_USERINFO = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*:/{0,2})[^\s'\"<>]*@")
#: What parsers say of a port they cannot read (urllib.parse, httpx): with an unescaped "/" in a
#: password, the quoted "port" is the start of the password.
_BAD_PORT = re.compile(r"(Port could not be cast to integer value as |Invalid port: )('[^']*'|\"[^\"]*\"|\S+)")
#: A scheme-like prefix, also a slightly wrong one ("redis:/"), kept when a URL is shown.
_SHOWN_PREFIX = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:/{0,2}")

_UNESCAPED = (
    "it has an '@' after the host: percent-encode '/', '?', '#' and '@' in the user name and password "
    "(urllib.parse.quote(password, safe='')), and an '@' in the path or query as %40"
)


def split_userinfo(url: str) -> tuple[str, str | None, str | None]:
    """``(url without userinfo, user name, password)``, both percent-decoded; ``None`` when absent.

    Raises ``ValueError`` when the URL cannot be split for sure; its message never quotes the URL.
    """
    if not isinstance(url, str):
        raise ValueError(f"it is a {type(url).__name__}, not a string")
    match = _SCHEME.match(url)
    if match is None:
        raise ValueError("it does not start with a scheme such as amqp://, redis:// or https://")
    rest = url[match.end() :]
    end = min((index for index in (rest.find(char) for char in "/?#") if index >= 0), default=len(rest))
    authority, remainder = rest[:end], rest[end:]
    userinfo, at, hostport = authority.rpartition("@")
    if "@" in remainder:
        raise ValueError(_UNESCAPED)
    _check_port(hostport)
    if not at:
        return url, None, None
    user, colon, password = userinfo.partition(":")
    return f"{match.group(0)}{hostport}{remainder}", unquote(user), unquote(password) if colon else None


def _check_port(hostport: str) -> None:
    """A port that is not a number is most often the start of a password cut by an unescaped "/"."""
    if hostport.startswith("["):  # IPv6 literal: [::1]:5672
        closing = hostport.find("]")
        if closing < 0:
            raise ValueError("its IPv6 host has no closing ']'")
        after = hostport[closing + 1 :]
        if after and not after.startswith(":"):
            raise ValueError("its host is followed by something that is not a port")
        port = after[1:]
    else:
        port = hostport.rpartition(":")[2] if ":" in hostport else ""
    if not port:
        return
    if not (port.isascii() and port.isdigit()):
        raise ValueError(
            "its port is not a number (a '/', '?' or '#' in the user name or password must be percent-encoded: "
            "urllib.parse.quote(password, safe=''))"
        )
    if not 0 < int(port) < 65536:
        raise ValueError("its port is not between 1 and 65535")


def redact_url(url: str) -> str:
    """``url`` as shown in messages: without user name, password, query and fragment.

    Never raises, also for a URL nothing can parse: ``redis://:pw@cache:6379/0?x=1`` is shown as
    ``redis://cache:6379/0``, ``Redis:/:pw@cache`` as ``Redis:/cache``.
    """
    if not isinstance(url, str):
        return f"<{type(url).__name__}>"
    head, at, tail = url.rpartition("@")
    if at:
        prefix = _SHOWN_PREFIX.match(head)
        url = (prefix.group(0) if prefix else "") + tail
    prefix = _SHOWN_PREFIX.match(url)
    start = prefix.end() if prefix else 0
    cut = min((index for index in (url.find(char, start) for char in "?#") if index >= 0), default=len(url))
    return url[:cut]


def scrub(text: str) -> str:
    """``text`` with the userinfo of every URL in it removed: ``amqp://u:pw@host//`` becomes ``amqp://host//``.

    The value a URL parser quotes as an unreadable port is removed too (``Port could not be cast to
    integer value as '…'``): it is most often the start of a password holding an unescaped "/".
    """
    return _BAD_PORT.sub(r"\1'…'", _USERINFO.sub(r"\1", text))


def first_line(error: BaseException | str, limit: int = 300) -> str:
    """The first line of ``error``'s text, userinfo scrubbed, cut to ``limit`` characters with "…".

    Empty when the error says nothing (``TimeoutError()``): callers fall back to the type's name.
    Driver and client messages can carry whole server notices or a URL with its password.
    """
    text = (error if isinstance(error, str) else str(error)).strip()
    first = scrub(text.splitlines()[0]) if text else ""
    return first if len(first) <= limit else first[: limit - 1] + "…"


def describe_error(error: BaseException, limit: int = 300) -> str:
    """One line for an unexpected exception: its type, its scrubbed first line and where it was raised.

    ``ValueError: Port could not be cast to integer value (raised at urllib.parse:port:182)``; the
    innermost frame says where to look without a traceback.
    """
    first = first_line(error, limit)
    where = ""
    tb = error.__traceback__
    if tb is not None:
        while tb.tb_next is not None:
            tb = tb.tb_next
        frame = tb.tb_frame
        where = f" (raised at {frame.f_globals.get('__name__', '?')}:{frame.f_code.co_name}:{tb.tb_lineno})"
    name = type(error).__qualname__
    return f"{name}: {first}{where}" if first else f"{name}{where}"
