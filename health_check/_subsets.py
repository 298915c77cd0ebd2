"""``?check=NAME`` and ``?exclude=NAME``: answer for some of an endpoint's checks, never running one.

Kubernetes' ``/readyz?exclude=etcd`` and django-watchman's ``?check=`` in one shape: ``check`` (repeatable)
keeps only the checks named, ``exclude`` (repeatable) drops them; both may be given. NAME is a check's
class name (``CPU``: every check of that class) or its full name as outputs show it
(``Disk(path='/data')``). A name the endpoint does not have is the client's mistake: 400, naming the
checks that exist (to whoever may see names).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from django.http import HttpRequest

from health_check.snapshot import Reading

__all__ = ["MAX_NAMES", "SubsetError", "query_names", "reading_names", "select"]

#: Names one request may give: a query string is the client's, and every name is compared.
MAX_NAMES = 32
#: Longest name considered: a full name with its arguments, bounded.
MAX_NAME_LENGTH = 300


class SubsetError(Exception):
    """The request names checks the endpoint does not have (or too many): a 400, never a 500."""

    def __init__(self, unknown: Sequence[str], known: Sequence[str], reason: str = "") -> None:
        self.unknown = tuple(unknown)
        self.known = tuple(known)
        self.reason = reason
        super().__init__(reason or f"unknown check {', '.join(map(repr, unknown))}")

    def describe(self, show_names: bool) -> str:
        """The 400 body: what is wrong and, when the client may see names, which names exist."""
        if self.reason:
            text = f"Bad Request: {self.reason}"
        else:
            noun = "check" if len(self.unknown) == 1 else "checks"
            text = f"Bad Request: no {noun} named {', '.join(map(repr, self.unknown))} on this endpoint"
        if show_names:
            return f"{text}. Checks of this endpoint: {', '.join(self.known) or 'none'}."
        return f"{text}. Names are shown to requests with the endpoint's token."


def query_names(request: HttpRequest) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    """``(check names, exclude names)`` of the query string, or ``None`` when it has neither."""
    query = request.META.get("QUERY_STRING", "")
    if "check" not in query and "exclude" not in query:
        return None
    try:
        included = tuple(request.GET.getlist("check"))
        excluded = tuple(request.GET.getlist("exclude"))
    except Exception:  # noqa: BLE001 - an oversized or broken query string: answered as if it had none
        return None
    if not included and not excluded:
        return None
    return included, excluded


def reading_names(readings: Iterable[Reading]) -> list[tuple[str, str]]:
    """Each reading's (full name, class name): the class name is its ``check`` label, as OpenMetrics shows it."""
    return [(reading.name, reading.labels.get("check") or reading.name) for reading in readings]


def select(names: Sequence[tuple[str, str]], included: Sequence[str], excluded: Sequence[str]) -> tuple[int, ...]:
    """Indexes of the checks to keep; ``names`` holds each check's (full name, class name), in order.

    Raises:
        SubsetError: a name matches no check, or the request gives more than ``MAX_NAMES`` names.
    """
    known = [full for full, _ in names]
    if len(included) + len(excluded) > MAX_NAMES:
        raise SubsetError((), known, f"more than {MAX_NAMES} check names in one request")
    every = {full for full, _ in names} | {cls for _, cls in names}
    unknown = [name[:MAX_NAME_LENGTH] for name in (*included, *excluded) if name not in every]
    if unknown:
        raise SubsetError(list(dict.fromkeys(unknown)), known)
    keep = set(included)
    drop = set(excluded)
    return tuple(
        index
        for index, (full, cls) in enumerate(names)
        if (not keep or full in keep or cls in keep) and full not in drop and cls not in drop
    )
