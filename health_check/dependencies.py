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

__all__ = ["Graph", "fold_for_feed"]


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
    outages: dict[str, list[tuple[datetime.datetime, Transition]]] = {}
    for entry in sorted(entries, key=lambda e: (e.at, e.seq)):
        if entry.kind == STATUS and entry.folded is None and entry.is_failing and not _failing(entry.from_state):
            outages.setdefault(entry.key, []).append((entry.at, entry))
    also: dict[str, list[str]] = {}
    hidden: set[str] = set()
    for entry in sorted(entries, key=lambda e: (e.at, e.seq)):
        folded = entry.folded
        if not folded or str(folded.get("into", "")) not in listed:
            continue
        hidden.add(entry.id)
        candidates = outages.get(str(folded.get("into", "")), [])
        started = [item for at, item in candidates if at <= entry.at + datetime.timedelta(seconds=_SLACK)]
        if not started:
            continue
        label = str(folded.get("label") or entry.name)
        names = also.setdefault(started[-1].id, [])
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


def _failing(state: str) -> bool:
    return state in (State.ERROR, State.STALE)


#: A dependant found failing a little before its dependency (polled first) folds into the failure
#: its dependency's poller found just after: the recorder holds it at most this long (seconds).
_SLACK = 120.0
