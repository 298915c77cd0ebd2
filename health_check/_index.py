"""The poller's endpoint index: what ``health_check <name> --no-http`` needs, without importing the URLconf.

Importing a project's URLconf imports everything its checks name (a Celery app, Redis clients...),
which costs a container probe more than Django's own start-up. The poller, which has imported it
anyway, writes an index into the store: per endpoint URL name, its checks' names, keys and labels,
its bad entries, its ``warnings_as_errors`` and whether it is a readiness endpoint. The command answers from it only when the index was
written by code and settings that are the command's own, so its answer is exactly the one the
URLconf would give:

- the same index format, ``health_check``, Django and Python versions, and store host;
- the same host name and working directory (``Disk()``'s default path, psutil checks' ``hostname``);
- the same settings: a digest of every setting's value (an HMAC keyed with ``SECRET_KEY``, so the
  store holds nothing a secret could be guessed from);
- the same source files: the size and modification time of every module the poller had loaded
  outside the standard library and site-packages, and of every module of the packages that the
  settings, the URLconf, the endpoint views and their checks come from, wherever they are.

A deploy that changes an endpoint's checks changes one of them (a file, a setting, a version), so
the command finds the index out of date and imports the URLconf, until the new poller writes a new
index. What the fingerprint cannot see: an environment variable the URLconf or a check's default
reads directly (read it in settings instead) and a file changed without a new size or modification
time.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import hashlib
import hmac
import inspect
import os
import pathlib
import socket
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import django
from django.conf import settings

from health_check._drain import Drain, drain_reading
from health_check._version import __version__
from health_check.snapshot import Reading, Snapshot, State, evaluate
from health_check.specs import EntryError

__all__ = [
    "INDEX_VERSION",
    "IndexedCheck",
    "IndexedEndpoint",
    "configuration_reading",
    "endpoint_readings",
    "files_digest",
    "fingerprint",
    "lookup",
    "make_index",
    "settings_digest",
]

#: The index's format; another value is out of date.
INDEX_VERSION = 1
#: How deep ``settings_digest()`` looks into nested settings values.
_MAX_DEPTH = 12
_PLAIN = (str, bytes, int, float, complex, decimal.Decimal, datetime.date, datetime.time, datetime.timedelta)


@dataclasses.dataclass(frozen=True, slots=True)
class IndexedCheck:
    """One check of an endpoint, as the index keeps it: what a reading needs."""

    name: str
    key: str
    labels: Mapping[str, str] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True, slots=True)
class IndexedEndpoint:
    """One endpoint of the index: its checks, its bad entries, and its own ``warnings_as_errors``."""

    name: str
    path: str
    checks: tuple[IndexedCheck, ...]
    errors: tuple[EntryError, ...] = ()
    warnings_as_errors: bool | None = None
    #: A readiness endpoint (``readiness=True``) reads its host's drain mark with the snapshots.
    readiness: bool = False

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(check.key for check in self.checks)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "checks": [[check.name, check.key, dict(check.labels)] for check in self.checks],
            "errors": [[error.entry, error.message] for error in self.errors],
            "warnings_as_errors": self.warnings_as_errors,
            "readiness": self.readiness,
        }

    @classmethod
    def from_dict(cls, name: str, data: Mapping[str, Any]) -> IndexedEndpoint:
        """Rebuild an entry; raises ``ValueError``, ``KeyError`` or ``TypeError`` on foreign data."""
        checks = []
        for check_name, key, labels in data["checks"]:
            if not (isinstance(check_name, str) and isinstance(key, str) and isinstance(labels, dict)):
                raise ValueError("not a check")
            checks.append(IndexedCheck(check_name, key, {str(k): str(v) for k, v in labels.items()}))
        errors = tuple(EntryError(entry=str(entry), message=str(message)) for entry, message in data["errors"])
        warnings_as_errors, readiness = data["warnings_as_errors"], data["readiness"]
        if warnings_as_errors is not None and not isinstance(warnings_as_errors, bool):
            raise ValueError("not a bool")
        if not isinstance(readiness, bool):
            raise ValueError("not a bool")
        return cls(name, str(data["path"]), tuple(checks), errors, warnings_as_errors, readiness)


def make_index(endpoints: Iterable[IndexedEndpoint], files: Mapping[str, Sequence[str]], host: str | None) -> dict:
    """The index a store keeps: endpoints by URL name, the fingerprint, the source files it covers."""
    files = {directory: sorted(names) for directory, names in sorted(files.items())}
    return {
        "version": INDEX_VERSION,
        "host": host,
        "fingerprint": fingerprint(files),
        "files": files,
        "endpoints": {endpoint.name: endpoint.to_dict() for endpoint in endpoints},
    }


def lookup(index: Mapping[str, Any] | None, name: str, host: str | None) -> tuple[IndexedEndpoint | None, str]:
    """The entry of endpoint ``name`` when ``index`` is current for this process; else ``None`` and why.

    Cheap: a look-up, a digest of the settings and one ``stat()`` per source file the index names.
    """
    if not isinstance(index, Mapping):
        return None, "no endpoint index in the store"
    if index.get("version") != INDEX_VERSION:
        return None, "the endpoint index has another format"
    if index.get("host") != host:
        return None, "the endpoint index is another host's"
    endpoints = index.get("endpoints")
    data = endpoints.get(name) if isinstance(endpoints, Mapping) else None
    if not isinstance(data, Mapping):
        return None, f"the endpoint index has no endpoint {name!r}"
    files = index.get("files")
    if not (
        isinstance(files, Mapping)
        and all(isinstance(names, list) and all(isinstance(n, str) for n in names) for names in files.values())
    ):
        return None, "the endpoint index is unreadable"
    if index.get("fingerprint") != fingerprint(files):
        return None, "the endpoint index is out of date (source files, settings or versions changed)"
    try:
        return IndexedEndpoint.from_dict(name, data), ""
    except (ValueError, KeyError, TypeError):
        return None, "the endpoint index is unreadable"


def fingerprint(files: Mapping[str, Sequence[str]]) -> dict[str, str]:
    """What the index is valid for: versions, host name and working directory, the settings, the source files."""
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    return {
        "versions": f"index {INDEX_VERSION}, health_check {__version__}, Django {django.__version__}, Python {python}",
        # Defaults of checks: Disk()'s path is the working directory, psutil checks name the host.
        "process": f"{socket.gethostname()} {os.getcwd()}",
        "settings_module": str(getattr(settings, "SETTINGS_MODULE", None)),
        "settings": settings_digest(),
        "files": files_digest(files),
    }


def files_digest(files: Mapping[str, Sequence[str]]) -> str:
    """A digest of each file's path, size and modification time (a missing file counts as missing)."""
    digest = hashlib.sha256()
    for directory in sorted(files):
        for name in files[directory]:
            path = os.path.join(directory, name)
            try:
                stat = os.stat(path)
            except OSError:
                digest.update(f"{path}\0missing\n".encode(errors="surrogateescape"))
            else:
                digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode(errors="surrogateescape"))
    return digest.hexdigest()


def settings_digest() -> str:
    """An HMAC (keyed with ``SECRET_KEY``) of every setting's value, the same in every process of one deploy.

    Values are read as the settings module set them (not through ``django.conf.settings``, which adds
    a thread's script prefix to ``STATIC_URL``), and written in a form that does not depend on the
    process: sets sorted, functions and classes by their dotted name, other objects by their type (a
    lazy ``reverse_lazy()`` is never evaluated, which would import the URLconf).
    """
    if not settings.configured:
        return ""
    wrapped = settings._wrapped  # type: ignore[misc]  # the Settings (or UserSettingsHolder) itself
    values: dict[str, Any] = {}
    defaults = vars(wrapped).get("default_settings")  # settings.configure(): defaults are looked up there
    if defaults is not None:
        values.update((name, getattr(defaults, name)) for name in dir(defaults) if name.isupper())
    values.update((name, value) for name, value in vars(wrapped).items() if name.isupper())
    for name in vars(wrapped).get("_deleted", ()):
        values.pop(name, None)
    secret = values.get("SECRET_KEY") or ""
    text = "\n".join(f"{name}={_canonical(values[name], 0)}" for name in sorted(values))
    key = secret.encode(errors="surrogateescape") if isinstance(secret, str) else bytes(secret)
    return hmac.new(key, text.encode(errors="surrogateescape"), hashlib.sha256).hexdigest()


def _canonical(value: Any, depth: int) -> str:
    """``value`` written the same way by every process that has the same settings."""
    if depth > _MAX_DEPTH:
        return "..."
    if value is None or isinstance(value, (bool, enum.Enum, *_PLAIN)):
        return repr(value)
    if isinstance(value, pathlib.PurePath):
        return f"{type(value).__name__}({str(value)!r})"
    if isinstance(value, (list, tuple)):
        return f"{type(value).__name__}[{','.join(_canonical(item, depth + 1) for item in value)}]"
    if isinstance(value, (set, frozenset)):
        return f"set[{','.join(sorted(_canonical(item, depth + 1) for item in value))}]"
    if isinstance(value, Mapping):
        items = ",".join(f"{_canonical(k, depth + 1)}:{_canonical(v, depth + 1)}" for k, v in value.items())
        return f"{{{items}}}"
    if inspect.isclass(value) or inspect.isfunction(value) or inspect.ismethod(value) or inspect.isbuiltin(value):
        return f"{getattr(value, '__module__', '')}.{getattr(value, '__qualname__', '')}"
    if inspect.ismodule(value):
        return f"module {value.__name__}"
    return f"<{type(value).__module__}.{type(value).__qualname__}>"


def endpoint_readings(
    checks: Sequence[Any],
    errors: Iterable[EntryError],
    found: Mapping[str, Snapshot],
    now: datetime.datetime,
    *,
    stale_intervals: float,
    drain: Drain | None = None,
) -> list[Reading]:
    """What an endpoint reports at ``now``: one reading per check (``name``, ``key``, ``labels``), one
    per bad entry, and the drain's while its host drains (readiness endpoints). The views and the
    command both build their answer here."""
    readings = [
        evaluate(check.name, found.get(check.key), now, stale_intervals=stale_intervals, labels=check.labels)
        for check in checks
    ]
    readings += [configuration_reading(error) for error in errors]
    if drain is not None:
        readings.append(drain_reading(drain.message))
    return readings


def configuration_reading(error: EntryError) -> Reading:
    """The failing reading of a ``checks=`` entry that could not be resolved."""
    return Reading(
        name=error.entry,
        state=State.ERROR,
        message=f"Unavailable: configuration error: {error.message}",
        snapshot=None,
        age_seconds=None,
        labels={"check": "ConfigurationError"},
    )
