"""What the poller records while a dependency fails: its dependants' changes folded into it.

The recorder hands every check's new entries to ``Folder.route()`` before writing them:

- a **dependant** whose dependency fails now (its last snapshot an error, or stale): its entries are
  folded (``Transition.folded``), written at once, and left out of feeds;
- a dependant that starts failing while its dependencies look fine: held until the dependency's
  poller had a chance to see the outage (the dependency's interval and timeout, at most two
  minutes), then folded if it did, written as they are if not;
- a **dependency** that starts failing: held as long as its dependants need to be seen failing
  (their interval and timeout, at most two minutes), so its item names them from its first version;
- a dependant still failing when its dependency recovered gets one entry of its own then ("still
  failing after Redis recovered"); one that recovered meanwhile says nothing: recovery is the
  dependency's to announce.

Held entries keep their moment, so uptime is the same; probes never wait, they read snapshots.
``settle()`` runs every second (the poller's ``rerun`` hook) and before each record.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence

from health_check._maintenance_source import spec_targets
from health_check.dependencies import MAX_HOLD_SECONDS, Graph
from health_check.journal import Transition, still_failing_transition
from health_check.snapshot import Snapshot, Status
from health_check.specs import CheckSpec
from health_check.store.base import Store, StoreError

__all__ = ["MAX_HOLD_SECONDS", "Folder", "dependency_graph"]

logger = logging.getLogger(__name__)

#: Entries held per check at most (a store that does not answer for long; a check that flaps meanwhile).
MAX_HELD = 100


def resolve_graph(specs: Sequence[CheckSpec], endpoints: Mapping[str, Iterable[str]] | None = None) -> Graph | None:
    """The ``depends_on`` of ``specs`` resolved to keys (cycles and unknown names included, for the
    system check to report); ``None`` when no check names a dependency."""
    checks = [
        (
            spec.key,
            spec_targets(spec, endpoints),
            tuple(getattr(spec.check, "depends_on", ()) or ()),
            spec.title or spec.name,
        )
        for spec in specs
    ]
    if not any(wanted for _, _, wanted, _ in checks):
        return None
    return Graph.resolve(checks)


def dependency_graph(
    specs: Sequence[CheckSpec], endpoints: Mapping[str, Iterable[str]] | None = None, *, log: bool = True
) -> Graph | None:
    """The poller's graph: ``resolve_graph()``, ``None`` for a cycle (logged: system check E008 says
    so at start-up), which would fold forever; unknown names are logged and ignored."""
    graph = resolve_graph(specs, endpoints)
    if graph is None:
        return None
    if log:
        for name, wanted in graph.unknown:
            logger.error(
                "Health check %s: depends_on names %r, which is no check of any endpoint; ignored", name, wanted
            )
    cycle = graph.cycle()
    if cycle is not None:
        if log:
            logger.error(
                "Health check depends_on has a cycle (%s); no change is folded until it is fixed",
                " -> ".join(graph.labels.get(key, key) for key in cycle),
            )
        return None
    return graph


@dataclasses.dataclass
class _Held:
    spec: CheckSpec
    until: datetime.datetime
    entries: list[Transition]


class Folder:
    """The folding state of one poller's recorder.

    Args:
        graph: The checks' dependencies, by key.
        store: Where the dependencies' snapshots are read (another poller may poll them).
        previous: The recorder's last snapshot of a key this poller polls, else ``None``.
        stale_intervals: As the recorder's: when a dependency's snapshot counts as stale (failing).
        clock: Now (aware); the runner's clock in tests.
    """

    def __init__(
        self,
        graph: Graph,
        store: Store,
        previous: Callable[[str], Snapshot | None],
        stale_intervals: Callable[[], float],
        clock: Callable[[], datetime.datetime] | None = None,
    ) -> None:
        self.clock = clock or (lambda: datetime.datetime.now(datetime.UTC))
        self.graph = graph
        self.store = store
        self.previous = previous
        self.stale_intervals = stale_intervals
        self._dependants = graph.dependants
        self._held: dict[str, _Held] = {}
        self._folded: dict[str, str] = {}  # dependant key -> the dependency its failure was folded into
        self._specs: dict[str, CheckSpec] = {}
        self._back: dict[str, datetime.datetime] = {}  # dependant key -> when its dependency was seen back
        self._guard = threading.Lock()

    def involved(self, key: str) -> bool:
        return key in self.graph.depends_on or key in self._dependants

    def route(self, spec: CheckSpec, snapshot: Snapshot, entries: list[Transition]) -> list[Transition]:
        """What of ``entries`` (a run's new entries, oldest first) to write now; the rest is held."""
        key = spec.key
        if not entries or not self.involved(key):
            return entries
        with self._guard:
            held = self._held.get(key)
            if held is not None:  # earlier entries wait: these wait behind them, in order
                held.entries.extend(entries)
                del held.entries[:-MAX_HELD]
                return []
            depends_on = self.graph.depends_on.get(key, ())
            if depends_on:
                failing = self._failing(depends_on)
                # An error while a dependency fails is the dependency's; so is what follows it until it
                # recovers. A warning of its own (a dependant degraded, not down) is announced as usual.
                if failing is not None and (snapshot.status is Status.ERROR or key in self._folded):
                    failing = self._folded.get(key, failing)
                    if snapshot.status is not Status.OK:
                        self._folded[key] = failing
                    else:
                        self._folded.pop(key, None)
                    return [self._fold(entry, failing) for entry in entries]
                folded_into = self._folded.pop(key, None)
                if folded_into is not None and snapshot.status is Status.OK:
                    # Recovered after its dependency did: the dependency's recovery said it.
                    return [self._fold(entry, folded_into) for entry in entries]
                if snapshot.status is Status.ERROR and folded_into is None:
                    self._hold(spec, entries, self._wait(depends_on))
                    return []
                return entries
            if snapshot.status is Status.ERROR and any(entry.is_failing for entry in entries):
                self._hold(spec, entries, self._wait(self._dependants.get(key, ())))
                return []
            return entries

    def settle(self, final: bool = False) -> list[tuple[CheckSpec, list[Transition]]]:
        """The held entries whose time came (folded or not), and "still failing" announcements; oldest
        first. ``final`` (the poller stops): every held entry, decided as things are now."""
        due: list[tuple[CheckSpec, list[Transition]]] = []
        now = self.clock()
        with self._guard:
            for key, held in list(self._held.items()):
                depends_on = self.graph.depends_on.get(key, ())
                failing = self._failing(depends_on) if depends_on else None
                if failing is not None and held.entries and held.entries[-1].to_state == Status.ERROR.value:
                    entries = [self._fold(entry, failing) for entry in held.entries]
                    self._folded[key] = failing
                elif now < held.until and not final:
                    continue
                else:
                    entries = held.entries
                del self._held[key]
                due.append((held.spec, entries))
            for key, dependency in list(self._folded.items()):
                if self._failing((dependency,)) is not None:
                    self._back.pop(key, None)
                    continue
                # The dependency is back: wait for this check's first run since, then say what it found.
                back = self._back.setdefault(key, now)
                current = self.previous(key)
                if current is not None and current.checked_at < back and current.status is not Status.OK:
                    continue
                del self._folded[key]
                del self._back[key]
                if current is not None and current.status is not Status.OK and current.maintenance is None:
                    spec = self._specs.get(key)
                    if spec is not None:
                        label = self.graph.labels.get(dependency, dependency)
                        at = now
                        entry = still_failing_transition(spec.key, spec.name, self._label(key), label, current, at)
                        due.append((spec, [entry]))
        return due

    # -- helpers -----------------------------------------------------------------------------------

    def requeue(self, spec: CheckSpec, entries: list[Transition]) -> None:
        """Entries ``settle()`` gave that could not be written (the store did not answer): tried again in
        a second, before what came meanwhile; at most ``MAX_HELD`` per check (the oldest go)."""
        with self._guard:
            held = self._held.get(spec.key)
            waiting = entries + (held.entries if held is not None else [])
            self._held[spec.key] = _Held(spec, self.clock(), waiting[-MAX_HELD:])

    def remember(self, spec: CheckSpec) -> None:
        """Note a spec this poller polls (the recorder calls it for every run)."""
        self._specs.setdefault(spec.key, spec)

    def _label(self, key: str) -> str:
        return self.graph.labels.get(key, key)

    def _fold(self, entry: Transition, into: str) -> Transition:
        return dataclasses.replace(
            entry, folded={"into": into, "label": self._label(entry.key), "with": self._label(into)}
        )

    def _hold(self, spec: CheckSpec, entries: list[Transition], seconds: float) -> None:
        self._held[spec.key] = _Held(spec, self.clock() + datetime.timedelta(seconds=seconds), list(entries))

    def _wait(self, keys: Sequence[str]) -> float:
        """How long the checks ``keys`` need to report: their interval and timeout, at most ``MAX_HOLD_SECONDS``."""
        seconds = 0.0
        for key in keys:
            snapshot = self._snapshot(key)
            if snapshot is not None:
                seconds = max(seconds, snapshot.interval_seconds + snapshot.timeout_seconds)
        return min(MAX_HOLD_SECONDS, seconds or 15.0)

    def _snapshot(self, key: str) -> Snapshot | None:
        found = self.previous(key)
        if found is not None:
            return found
        try:
            return self.store.read([key]).get(key)
        except StoreError:
            return None

    def _failing(self, keys: Sequence[str]) -> str | None:
        """The first of ``keys`` whose last snapshot is an error or stale (its poller gone), else ``None``."""
        now = self.clock()
        for key in keys:
            snapshot = self._snapshot(key)
            if snapshot is None:
                continue
            if snapshot.maintenance is not None and now < snapshot.maintenance.until:
                continue  # planned: its dependants report on their own (or have their own silence)
            age = (now - snapshot.checked_at).total_seconds()
            if snapshot.status is Status.ERROR or age > snapshot.allowance_seconds(self.stale_intervals()):
                return key
        return None
