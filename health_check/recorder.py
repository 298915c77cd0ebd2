"""The poller's record of each run: the reported snapshot, its journal entries, a log line, the signal.

The Django edge of the scheduler: ``scheduler.jobs.CheckRunner`` runs checks and hands each ``Run`` to
``SnapshotRecorder.record``, which applies hysteresis (``health_check.hysteresis``), stores the
snapshot and the transitions ``health_check.journal.changes()`` finds, logs each change once, and sends
the ``transition`` signal. Settings are read here, never in ``scheduler/``.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
from collections.abc import Callable, Iterable, Sequence

from health_check._folding import Folder
from health_check._maintenance_source import MaintenanceSource
from health_check._urls import describe_error
from health_check.conf import get_config, journal_bounds
from health_check.dependencies import Graph
from health_check.exceptions import ServiceWarning
from health_check.hysteresis import apply_hysteresis
from health_check.journal import (
    STATUS,
    Transition,
    after_recorded_stale,
    append_transitions,
    changes,
    read_transitions,
)
from health_check.signals import transition as signal
from health_check.snapshot import Snapshot, State, Status
from health_check.specs import CheckSpec
from health_check.store.base import Store, StoreError
from scheduler.jobs import CheckRunner, Run

__all__ = ["JournalRecorder", "SnapshotRecorder", "log_transitions", "store_runner"]

# The name this logging had before it moved here with the recorder: projects' LOGGING configs name it.
logger = logging.getLogger("health_check.journal")
_UTC = datetime.UTC


#: Longest message a transition's log line carries; the full one is in the snapshot and the journal.
LOG_MESSAGE_CHARS = 300


def log_transitions(transitions: Iterable[Transition]) -> None:
    """One WARNING line per change of a check's reported status, in the poller, once per transition.

    Recoveries are WARNING too, not INFO: Django configures no handler for our loggers, so Python's
    last-resort handler shows WARNING and above only, and a log that says "db: ok -> error" must also
    say "db: error -> ok", or whoever reads it believes the outage never ended. The stale entry the
    poller records on its return is not logged on its own: the same run logs "stale -> ok" (or
    "stale -> error"), one line for one run. Incident updates that do not change a status are feed
    items, not log lines. A change folded into a failing dependency's (``health_check.dependencies``)
    is an INFO line naming it: the dependency's WARNING is the cascade's one alarm.
    """
    for entry in transitions:
        if entry.kind != STATUS or entry.to_state == State.STALE:
            continue
        message = " ".join(entry.message.split())  # one line, whatever the check's message holds
        if len(message) > LOG_MESSAGE_CHARS:
            message = message[: LOG_MESSAGE_CHARS - 1] + "…"
        if entry.folded:
            logger.info(
                "Health check %s: %s -> %s (while %s fails): %s",
                entry.name,
                entry.from_state,
                entry.to_state,
                entry.folded.get("with") or entry.folded.get("into"),
                message,
            )
            continue
        logger.warning("Health check %s: %s -> %s: %s", entry.name, entry.from_state, entry.to_state, message)


def _announced(recent: Sequence[Transition], stored: list[Transition]) -> list[Transition]:
    """What the signal announces for a run: its stored entries, preceded by the stale entry a reader
    recorded when this run stored its recovery (so receivers hear of every entry once, in the poller)."""
    latest = next((entry for entry in recent if entry.kind == STATUS), None)
    if latest is None or latest.to_state != State.STALE or any(entry.id == latest.id for entry in stored):
        return stored
    if any(entry.kind == STATUS and entry.from_state == State.STALE for entry in stored):
        return [latest, *stored]
    return stored


class JournalRecorder:
    """Applies hysteresis to each run, stores the snapshot and its transitions, and sends the signal.

    One per ``CheckRunner``: it remembers each check's previous snapshot, reading it from the store
    on a check's first run so that a restarted poller continues debouncing where the last one stopped.

    Args:
        store: Where snapshots and transitions go.
        retention: Transitions kept per check at most; ``None`` reads ``HEALTH_CHECK["JOURNAL_RETENTION"]``.
            Their age limit is always ``HEALTH_CHECK["JOURNAL_MAX_AGE"]``.
        stale_intervals: ``None`` reads ``HEALTH_CHECK["STALE_AFTER_INTERVALS"]``.
        maintenance: The silences and windows whose checks' snapshots say "maintenance"; ``None``: none.
        dependencies: The checks' ``depends_on``, resolved: dependants' changes are folded into their
            failing dependency's (``_folding.Folder``); ``None``: none.
    """

    def __init__(
        self,
        store: Store,
        *,
        retention: int | None = None,
        stale_intervals: float | None = None,
        maintenance: MaintenanceSource | None = None,
        dependencies: Graph | None = None,
    ) -> None:
        self.store = store
        self.retention = retention
        self.stale_intervals = stale_intervals
        self.maintenance = maintenance
        self._previous: dict[str, Snapshot | None] = {}
        self._attempted: dict[str, Snapshot] = {}
        self.folder = (
            Folder(dependencies, store, self._previous.get, lambda: self._settings()[1])
            if dependencies is not None and dependencies.depends_on
            else None
        )

    def _settings(self) -> tuple[int, float]:
        retention, stale_intervals = self.retention, self.stale_intervals
        if retention is None or stale_intervals is None:
            config = get_config()
            retention = journal_bounds(config)[0] if retention is None else retention
            stale_intervals = float(config["STALE_AFTER_INTERVALS"]) if stale_intervals is None else stale_intervals
        return retention, stale_intervals

    def settle(self, final: bool = False) -> None:
        """Write the entries the folder held whose time came (``_folding``), all of them when ``final``;
        what the store refuses is held again for the next second. Never raises."""
        folder = self.folder
        if folder is None:
            return
        retention, max_age = journal_bounds()
        try:
            due = folder.settle(final)
        except Exception as error:  # noqa: BLE001 - folding is a nicety; the poller goes on
            logger.error("Cannot settle held journal entries: %s", describe_error(error))
            return
        for spec, entries in due:
            try:
                stored = append_transitions(self.store, entries, retention=retention, max_age=max_age)
            except StoreError as error:
                logger.error("Cannot store the journal entries of %s, trying again: %s", spec.name, error)
                if not final:
                    folder.requeue(spec, entries)
                continue
            log_transitions(stored)
            self.send(spec, [entry for entry in stored if not entry.folded])

    def recorded(self) -> dict[str, Snapshot | None]:
        """The last snapshot of each check this recorder ran (a copy): stored, or meant to be when the
        store refused it, so the rerun hook does not run a check every second while writes fail."""
        return {**self._previous, **self._attempted}

    def _previous_of(self, key: str) -> Snapshot | None:
        if key not in self._previous:
            try:
                self._previous[key] = self.store.read([key]).get(key)
            except StoreError as error:
                logger.warning("Cannot read the previous snapshot of %s: %s", key, error)
                return None
        return self._previous[key]

    def record(self, spec: CheckSpec, raw: Snapshot) -> Snapshot:
        """Store what readers should be told after ``raw``; returns the reported snapshot. Never raises."""
        retention, stale_intervals = self._settings()
        max_age = journal_bounds()[1]
        previous = self._previous_of(spec.key)
        snapshot = apply_hysteresis(spec.check, previous, raw, stale_intervals=stale_intervals)
        if self.maintenance is not None:
            in_maintenance = self.maintenance.of(spec, raw.checked_at)
            if in_maintenance is not None:
                snapshot = dataclasses.replace(snapshot, maintenance=in_maintenance)
        title = spec.title or spec.name
        recent = self._recent(spec.key)
        outage_started_at = self._outage_start(recent) if snapshot.status is Status.OK else None
        transitions = after_recorded_stale(
            recent,
            changes(
                previous,
                snapshot,
                spec.name,
                stale_intervals=stale_intervals,
                title=title,
                outage_started_at=outage_started_at,
            ),
            snapshot,
            spec.name,
            title=title,
            outage_started_at=outage_started_at,
        )
        folder = self.folder
        if folder is not None:
            folder.remember(spec)
            self.settle()
            try:
                transitions = folder.route(spec, snapshot, transitions)
            except Exception as error:  # noqa: BLE001 - unfolded is still true; the run is recorded
                logger.error("Cannot fold the entries of %s: %s", spec.name, describe_error(error))
        self._attempted[spec.key] = snapshot
        try:
            # The entries first: a reader that sees the new snapshot lists its entries too.
            stored = (
                append_transitions(self.store, transitions, retention=retention, max_age=max_age) if transitions else []
            )
            self.store.write(snapshot)
        except StoreError as error:
            logger.error("Cannot store the snapshot of %s: %s", spec.name, error)
            return snapshot
        self._previous[spec.key] = snapshot
        log_transitions(stored)
        self.send(spec, [entry for entry in _announced(recent, stored) if not entry.folded])
        return snapshot

    def _recent(self, key: str) -> list[Transition]:
        """The check's recent entries, newest first: what the outage began with, a stale a reader recorded."""
        try:
            return read_transitions(self.store, [key], 50)
        except StoreError:
            return []

    @staticmethod
    def _outage_start(recent: Sequence[Transition]) -> datetime.datetime | None:
        """When the current outage began, from the check's ``recent`` entries; ``None`` when not in one.

        That is the oldest of the status entries since the last recovery: the one that left "ok" (to
        warning, error or stale) or, for a check that failed from its first run, ``pending -> error``.
        Entries in between (error -> stale, stale -> error after the poller came back) are part of
        the same outage, so a reader is never told "recovered after 2 s" about an outage that lasted
        through a dead poller.
        """
        started = None
        for entry in recent:  # newest first
            if entry.kind != STATUS:
                continue
            if entry.to_state in (State.OK, State.MAINTENANCE):
                break  # the previous outage ended here (a maintenance's end starts afresh)
            started = entry.at
            if entry.from_state in (State.OK, State.PENDING):
                break
        return started

    @staticmethod
    def send(spec: CheckSpec, transitions: Sequence[Transition]) -> None:
        """Send the ``transition`` signal once per stored transition; a failing receiver is only logged."""
        for entry in transitions:
            for receiver, result in signal.send_robust(sender=type(spec.check), transition=entry, check=spec.check):
                if isinstance(result, BaseException):
                    # One line, no traceback: a receiver's frames may hold its webhook URL or token.
                    logger.error(
                        "Receiver %r of health_check.signals.transition failed for %s: %s",
                        receiver,
                        entry.title,
                        describe_error(result),
                    )


class SnapshotRecorder:
    """Turns each ``Run`` into its snapshot and records it (``JournalRecorder``); the runner's ``record``.

    Args:
        store: Where snapshots and transitions go.
        retention: As ``JournalRecorder``.
        stale_intervals: As ``JournalRecorder``.
        maintenance: As ``JournalRecorder``; the poller's ``rerun`` then also runs a check at once when
            its maintenance starts or ends.
        dependencies: As ``JournalRecorder``; the poller's ``rerun`` then also writes held entries.
        watching: Whether some check has ``watched_keys`` (a heartbeat): the poller's ``rerun`` then
            runs it as soon as one of them has a newer snapshot than its own.
    """

    def __init__(
        self,
        store: Store,
        *,
        retention: int | None = None,
        stale_intervals: float | None = None,
        maintenance: MaintenanceSource | None = None,
        dependencies: Graph | None = None,
        watching: bool = False,
    ) -> None:
        self.store = store
        self.maintenance = maintenance
        self.journal = JournalRecorder(
            store,
            retention=retention,
            stale_intervals=stale_intervals,
            maintenance=maintenance,
            dependencies=dependencies,
        )
        self._losses_seen = store.losses  # a loss before this recorder existed is not its to repair
        self._watching = watching

    def record(self, run: Run) -> Snapshot:
        """The run's raw snapshot, then hysteresis and the store; returns the reported snapshot. Never raises."""
        error = run.error
        status = Status.OK if error is None else Status.WARNING if isinstance(error, ServiceWarning) else Status.ERROR
        raw = Snapshot(
            key=run.spec.key,
            status=status,
            message="OK" if error is None else str(error),
            checked_at=run.finished_at,
            duration_seconds=run.duration_seconds,
            interval_seconds=run.spec.check.schedule_interval.total_seconds(),
            timeout_seconds=run.budget_seconds,
            details=run.details,
        )
        return self.journal.record(run.spec, raw)

    @property
    def rerun(self) -> Callable[[Sequence[CheckSpec]], list[CheckSpec]] | None:
        """The poller's ``rerun``: for a store that can lose what was written (Redis), maintenance,
        dependencies, and checks that watch store keys (``watched_keys``: heartbeats)."""
        if self.maintenance is None and self.journal.folder is None and not self._watching:
            return self.lost if self.store.can_lose_writes else None
        return self.due

    @property
    def settle(self) -> Callable[[bool], None] | None:
        """The poller's ``settle``: writes what the folder held (every second, and all of it at shutdown)."""
        return self.journal.settle if self.journal.folder is not None else None

    def watched(self, specs: Sequence[CheckSpec]) -> list[CheckSpec]:
        """The checks with a ``watched_keys`` snapshot newer than their own last one (a beat arrived)."""
        watching = [(spec, keys) for spec in specs if (keys := _watched_keys(spec))]
        if not watching:
            return []
        try:
            found = self.store.read([key for _, keys in watching for key in keys])
        except StoreError:
            return []
        recorded = self.journal.recorded()
        again = []
        for spec, keys in watching:
            own = recorded.get(spec.key)
            newest = max((found[key].checked_at for key in keys if key in found), default=None)
            if own is not None and newest is not None and newest > own.checked_at:
                again.append(spec)
        return again

    def due(self, specs: Sequence[CheckSpec]) -> list[CheckSpec]:
        """Every second: the checks the store lost (``lost()``) and those whose maintenance started or
        ended since their last snapshot (a silence set, a window opened), so each says so at once."""
        again = self.lost(specs) if self.store.can_lose_writes else []
        again += [spec for spec in self.watched(specs) if spec not in again]
        if self.maintenance is not None:
            recorded = {
                key: snapshot.maintenance for key, snapshot in self.journal.recorded().items() if snapshot is not None
            }
            moment = datetime.datetime.now(_UTC)
            known = {spec.key for spec in again}
            again += [spec for spec in self.maintenance.changed(specs, recorded, moment) if spec.key not in known]
        return again

    def lost(self, specs: Sequence[CheckSpec]) -> list[CheckSpec]:
        """After the store lost its snapshots (Redis restarted empty): the specs to run again now.

        The store has written back what this process wrote (``Store.watch()``); a check it had
        nothing for, or nothing fresh (older than its stale allowance), must run again at once rather
        than answer "pending" or "stale" until its next interval, minutes away for an upstream page.
        Called by the poller every second; cheap when nothing was lost.
        """
        losses = self.store.watch()
        if losses == self._losses_seen:
            return []
        self._losses_seen = losses
        stale_intervals = self.journal.stale_intervals
        if stale_intervals is None:
            stale_intervals = float(get_config()["STALE_AFTER_INTERVALS"])
        now = datetime.datetime.now(_UTC)
        again = []
        for spec in specs:
            written = self.store.last_written(spec.key)
            if written is None or (now - written.checked_at).total_seconds() > written.allowance_seconds(
                stale_intervals
            ):
                again.append(spec)
        logger.info(
            "Running %d of %d checks again after the %s lost their snapshots",
            len(again),
            len(specs),
            self.store.description,
        )
        return again


def store_runner(
    store: Store,
    *,
    max_stuck_runs: int = 8,
    clock: Callable[[], datetime.datetime] | None = None,
    retention: int | None = None,
    stale_intervals: float | None = None,
    maintenance: MaintenanceSource | None = None,
) -> CheckRunner[Snapshot]:
    """A runner whose runs go to ``store``: what ``health_check_poller --once`` and tests use.

    ``maintenance``: the silences and windows its snapshots are stamped with, as the poller's are.
    """
    record = SnapshotRecorder(
        store, retention=retention, stale_intervals=stale_intervals, maintenance=maintenance
    ).record
    if clock is None:
        return CheckRunner(record, max_stuck_runs=max_stuck_runs)
    return CheckRunner(record, max_stuck_runs=max_stuck_runs, clock=clock)


def _watched_keys(spec: CheckSpec) -> tuple[str, ...]:
    try:
        keys = getattr(spec.check, "watched_keys", ())
        return tuple(key for key in keys if isinstance(key, str))
    except Exception:  # noqa: BLE001 - a user's broken property must not stop the poller's watch
        return ()
