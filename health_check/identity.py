"""A check's identity: the key its snapshots are stored under.

The key must be the same in every process and after a restart (the poller writes, other processes
read), so it is built from the class path and the check's field values, never from ``id()`` or a
default ``repr()`` that embeds a memory address. Two checks whose ``repr()`` is equal but whose
arguments differ (a secret, a lambda) still get different keys.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import hashlib
import pathlib
import re
import types
from typing import Any

__all__ = ["check_key", "public_name"]

_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def _canonical_code(code: types.CodeType) -> str:
    consts = ",".join(
        _canonical_code(const) if isinstance(const, types.CodeType) else repr(const) for const in code.co_consts
    )
    return f"{code.co_qualname}@{code.co_firstlineno}:{code.co_code.hex()}:{consts}"


def _canonical(value: Any, depth: int = 0) -> str:
    """A deterministic text for a field value; only the shape of the value matters, never its address."""
    if depth > 8:
        return "…"
    if value is None or isinstance(value, (bool, int, float, str, bytes, enum.Enum)):
        return repr(value)
    if isinstance(value, datetime.timedelta):
        return f"timedelta({value.total_seconds()!r})"
    if isinstance(value, pathlib.PurePath):
        return f"path({str(value)!r})"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_canonical(item, depth + 1) for item in value) + "]"
    if isinstance(value, (set, frozenset)):
        return "{" + ",".join(sorted(_canonical(item, depth + 1) for item in value)) + "}"
    if isinstance(value, dict):
        items = sorted((_canonical(k, depth + 1), _canonical(v, depth + 1)) for k, v in value.items())
        return "{" + ",".join(f"{k}:{v}" for k, v in items) + "}"
    if isinstance(value, type):
        return f"class({value.__module__}.{value.__qualname__})"
    if isinstance(value, types.FunctionType):
        # A lambda's qualname is "<lambda>" for every lambda in a module: its code tells them apart.
        return f"function({value.__module__}:{_canonical_code(value.__code__)})"
    if isinstance(value, (types.BuiltinFunctionType, types.MethodType)):
        owner = getattr(value, "__self__", None)
        return f"method({_canonical(owner, depth + 1) if owner is not None else ''}.{value.__qualname__})"
    if dataclasses.is_dataclass(value):
        return _fields_text(value, depth + 1)
    try:
        text = repr(value)
    except Exception:  # a broken __repr__ must not make the check unusable; its type still names it
        kind = type(value)
        return f"object({kind.__module__}.{kind.__qualname__})"
    if _ADDRESS.search(text):
        kind = type(value)
        if kind.__str__ is not object.__str__:
            shown = str(value)  # e.g. a nameserver object whose str() is "127.0.0.1:5353"
            if not _ADDRESS.search(shown):
                return f"object({kind.__module__}.{kind.__qualname__}:{shown!r})"
        name = getattr(value, "main", None) or getattr(value, "name", None)  # e.g. a Celery app's name
        return f"object({kind.__module__}.{kind.__qualname__}:{name!r})"
    return text


def _fields_text(obj: Any, depth: int = 0) -> str:
    kind = type(obj)
    parts = [
        f"{field.name}={_canonical(getattr(obj, field.name, None), depth)}"
        for field in dataclasses.fields(obj)
        if not field.metadata.get("not_in_key")
        and not (field.metadata.get("key_if_set") and getattr(obj, field.name, None) == field.default)
    ]
    return f"{kind.__module__}.{kind.__qualname__}(" + ",".join(parts) + ")"


def check_key(check: Any) -> str:
    """The stable store key of a check instance: ``"<module>.<Class>:<digest of its arguments>"``."""
    kind = type(check)
    if dataclasses.is_dataclass(check):
        text = _fields_text(check)
    else:
        text = f"{kind.__module__}.{kind.__qualname__}:{_canonical(vars(check)) if hasattr(check, '__dict__') else ''}"
    digest = hashlib.blake2b(text.encode("utf-8", "backslashreplace"), digest_size=8).hexdigest()
    return f"{kind.__module__}.{kind.__qualname__}:{digest}"


def public_name(check: Any) -> str:
    """The check's name in outputs: its ``repr()``, with any memory address taken out."""
    try:
        text = repr(check)
    except Exception:  # a user's broken __repr__ must not break every output
        text = type(check).__name__
    return _ADDRESS.sub("", text)
