"""Dependencies between checks: one outage, one feed item.

A check may name the checks it depends on (``depends_on=["Redis(...)"]``, by name, title or key).
When Redis goes down, Cache and Celery Ping fail with it; three items saying "down" tell a reader that
three things broke. So while a dependency fails, its dependants' changes are recorded **folded**
into it (``Transition.folded``): the journal keeps them (each check's uptime stays true, probes read
each check's true state) and feeds list the dependency's item only, its title naming them
("Redis ... unavailable; also failing: Cache, Celery Ping"). A dependant that is still failing once
its dependency recovered is announced then, on its own.

Pure: the graph of resolved checks and what a feed makes of folded entries. The recorder
(``recorder.py``) decides, as it records, what to fold.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Iterable, Mapping, Sequence

from health_check.journal import STATUS, Transition
from health_check.snapshot import State

__all__ = ["MAX_HOLD_SECONDS", "Graph", "fold_for_feed"]

#: Longest the poller holds an entry back to see whether a dependency (or its dependants) fails; so a
#: dependant found failing up to this long before its dependency still folds into that failure.
MAX_HOLD_SECONDS = 120.0


@dataclasses.dataclass(frozen=True)
class Graph:
    """Which checks (store keys) depend on which, resolved from the checks' ``depends_on`` names.

    Args:
        depends_on: Key -> the keys it depends on.
        labels: Key -> what items call the check (its title, else its name).
        unknown: (check name, the name it gave that matches no check) pairs, for the system check.
    """

    depends_on: Mapping[str, tuple[str, ...]]
    labels: Mapping[str, str]
    unknown: tuple[tuple[str, str], ...] = ()

    @classmethod
    def resolve(cls, checks: Iterable[tuple[str, Iterable[str], Sequence[str], str]]) -> Graph:
        """From (key, names it answers to, names it depends on, label) of every check polled together."""
        checks = list(checks)
        by_name: dict[str, list[str]] = {}  # a class name may stand for several checks: each is a dependency
        for key, names, _, _ in checks:
            for name in names:
                by_name.setdefault(name, []).append(key)
        depends_on: dict[str, tuple[str, ...]] = {}
        unknown: list[tuple[str, str]] = []
        for key, _, wanted, label in checks:
            found = []
            for name in wanted:
                targets = by_name.get(name)
                if not targets:
                    unknown.append((label, name))
                found += [target for target in targets or () if target != key and target not in found]
            if found:
                depends_on[key] = tuple(found)
        labels = {key: label for key, _, _, label in checks}
        return cls(depends_on=depends_on, labels=labels, unknown=tuple(unknown))

    @property
    def dependants(self) -> dict[str, tuple[str, ...]]:
        """Key -> the keys that depend on it."""
        found: dict[str, list[str]] = {}
        for key, targets in self.depends_on.items():
            for target in targets:
                found.setdefault(target, []).append(key)
        return {key: tuple(keys) for key, keys in found.items()}

    def cycle(self) -> list[str] | None:
        """A cycle of keys (its first key repeated at the end), or ``None``: a cycle would fold forever."""
        state: dict[str, int] = {}  # 1 on the path, 2 done
        path: list[str] = []

        def visit(key: str) -> list[str] | None:
            state[key] = 1
            path.append(key)
            for target in self.depends_on.get(key, ()):
                if state.get(target) == 1:
                    return path[path.index(target) :] + [target]
                if target not in state:
                    found = visit(target)
                    if found:
                        return found
            path.pop()
            state[key] = 2
            return None

        for key in sorted(self.depends_on):
            if key not in state:
                found = visit(key)
                if found:
                    return found
        return None


def fold_for_feed(entries: Sequence[Transition], keys: Iterable[str]) -> list[Transition]:
    """A feed's entries (newest first) with folded ones inside their dependency's item.

    ``keys`` are the endpoint's checks. An entry folded into one of them is left out (also while the
    poller still holds the dependency's item back, so a reader never sees the cascade piecemeal), and
    the dependency's failure gains "; also failing: <labels>" (each dependant once, in the order they
    failed). One folded into a check the endpoint does not list stays, as it was.
    """
    listed = set(keys)
    ordered = sorted(entries, key=lambda e: (e.at, e.seq))
    outages: dict[str, list[Transition]] = {}  # key -> the failures that began an outage, oldest first
    folded_failures: dict[str, list[Transition]] = {}  # key -> its own failures, folded into another's
    for entry in ordered:
        if entry.kind != STATUS or not entry.is_failing or _failing(entry.from_state):
            continue
        (folded_failures if entry.folded else outages).setdefault(entry.key, []).append(entry)
    also: dict[str, list[str]] = {}
    hidden: set[str] = set()
    for entry in ordered:
        folded = entry.folded
        if not folded or str(folded.get("into", "")) not in listed:
            continue
        hidden.add(entry.id)
        item = _item(str(folded.get("into", "")), entry.at, outages, folded_failures)
        if item is None:
            continue
        label = str(folded.get("label") or entry.name)
        names = also.setdefault(item.id, [])
        if entry.is_failing and label not in names:
            names.append(label)
    result = []
    for entry in entries:
        if entry.id in hidden:
            continue
        labels = also.get(entry.id)
        if labels:
            entry = dataclasses.replace(entry, title=f"{entry.title}; also failing: {', '.join(labels)}")
        result.append(entry)
    return result


def _item(
    key: str,
    at: datetime.datetime,
    outages: Mapping[str, list[Transition]],
    folded_failures: Mapping[str, list[Transition]],
) -> Transition | None:
    """The failure item an entry of ``at`` folded into ``key`` belongs to: ``key``'s latest outage that
    began at or before it (else one that began just after, its poller a moment behind); through a chain
    (A into B, B folded into C) the item of the check at its root."""
    slack = datetime.timedelta(seconds=MAX_HOLD_SECONDS)
    for _ in range(len(outages) + len(folded_failures) + 1):  # a chain is at most as long as the checks
        before = [item for item in outages.get(key, ()) if item.at <= at]
        if before:
            return before[-1]
        after = [item for item in outages.get(key, ()) if item.at <= at + slack]
        if after:
            return after[0]
        folded = [item for item in folded_failures.get(key, ()) if item.at <= at + slack]
        if not folded or not folded[-1].folded:
            return None
        key, at = str(folded[-1].folded.get("into", "")), folded[-1].at
    return None


def _failing(state: str) -> bool:
    return state in (State.ERROR, State.STALE)
