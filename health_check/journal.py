"""Transitions: one journal entry per change of what readers are told, with an id that never moves.

Pure functions of snapshots: ``changes()`` compares a check's previous reported snapshot with its new
one (after hysteresis, ``health_check.hysteresis``) and says what changed: a status change, a gap long
enough for readers to have called the check stale, an upstream incident that appeared, changed or
ended. The poller records them (``health_check.recorder``); feeds, the status page and the
``transition`` signal read them.

Ids are digests of what happened (check, moment, from, to, incident), never of "now" or of a counter,
so a feed re-rendered by any process, or after a restart, gives every item the guid it had before.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import inspect
import logging
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from health_check._incidents import DETAIL_FIELDS, is_closed
from health_check._time import describe_age, isoformat, parse_iso
from health_check.snapshot import Snapshot, State, Status

__all__ = [
    "JournalStore",
    "Transition",
    "after_recorded_stale",
    "append_transitions",
    "changes",
    "merge_recent",
    "newest_first",
    "read_transitions",
    "stale_transition",
    "still_failing_transition",
]

logger = logging.getLogger(__name__)
UTC = datetime.UTC

STATUS = "status"
INCIDENT = "incident"


_IMPACT_WORDS = {
    "none": "degraded",
    "minor": "degraded",
    "incident": "degraded",
    "major": "major outage",
    "critical": "critical outage",
    "maintenance": "maintenance",
}


def _stable_id(*parts: object) -> str:
    """A UUID-shaped digest of ``parts``: valid as an Atom id (``urn:uuid:``) and as an RSS guid."""
    text = "\x1f".join("" if part is None else str(part) for part in parts)
    return str(uuid.UUID(bytes=hashlib.blake2b(text.encode("utf-8", "backslashreplace"), digest_size=16).digest()))


def _iso(moment: datetime.datetime) -> str:
    # Ids are digests of this exact text: "+00:00" and microseconds, whatever else writes times as "Z".
    return isoformat(moment, timespec="microseconds", suffix="+00:00")


@dataclasses.dataclass(frozen=True, slots=True)
class Transition:
    """One change readers were (or would have been) told about.

    Args:
        id: Stable identity: a digest of key, moment, from, to and incident; the feed guid.
        seq: Order of recording in the store, for ties between entries of the same moment.
        key: Store key of the check.
        name: Public name of the check (its ``repr()``).
        kind: ``"status"`` (the reported state changed) or ``"incident"`` (an upstream incident).
        from_state: Previous state (``ok``, ``warning``, ``error``, ``stale``, ``pending``), or the
            incident's previous status (empty when it is new).
        to_state: New state, or the incident's new status (``resolved`` when it ended).
        at: When it changed (aware, UTC): the run's time, or the provider's update time.
        message: The check's message at that moment, or the incident's name.
        title: One line a human reads in Slack: ``"Database(alias='default'): recovered after 4 min"``.
        incident: The provider's incident (id, name, impact, status, link, started_at, updated_at).
        folded: Set when the change happened while a check it depends on failed
            (``health_check.dependencies``): ``{"into": <that check's key>, "label": <this check's
            title>, "with": <that check's title>}``. Feeds list it inside that check's item; uptime and the status page count it.
    """

    id: str
    key: str
    name: str
    kind: str
    from_state: str
    to_state: str
    at: datetime.datetime
    message: str
    title: str
    incident: Mapping[str, Any] | None = None
    seq: int = 0
    folded: Mapping[str, Any] | None = None

    @property
    def link(self) -> str | None:
        """The incident's page, when the provider gave one."""
        return (self.incident or {}).get("link") or None

    @property
    def is_failing(self) -> bool:
        if self.kind == INCIDENT:
            return not is_closed(self.to_state)
        return State(self.to_state).is_failing if self.to_state in State._value2member_map_ else False

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe, like ``Snapshot.to_dict()``: stores keep plain data."""
        return {
            "id": self.id,
            "seq": self.seq,
            "key": self.key,
            "name": self.name,
            "kind": self.kind,
            "from": self.from_state,
            "to": self.to_state,
            "at": self.at.timestamp(),
            "message": self.message,
            "title": self.title,
            "incident": dict(self.incident) if self.incident is not None else None,
            **({"folded": dict(self.folded)} if self.folded else {}),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Transition:
        """Rebuild from ``to_dict()``; raises ``ValueError``, ``KeyError`` or ``TypeError`` on foreign data."""
        incident = data.get("incident")
        return cls(
            id=str(data["id"]),
            seq=int(data.get("seq") or 0),
            key=str(data["key"]),
            name=str(data["name"]),
            kind=str(data["kind"]),
            from_state=str(data["from"]),
            to_state=str(data["to"]),
            at=datetime.datetime.fromtimestamp(float(data["at"]), tz=UTC),
            message=str(data["message"]),
            title=str(data["title"]),
            incident=dict(incident) if isinstance(incident, Mapping) else None,
            folded=dict(folded) if isinstance(folded := data.get("folded"), Mapping) else None,
        )


def newest_first(transitions: Iterable[Transition]) -> list[Transition]:
    return sorted(transitions, key=lambda t: (t.at, t.seq, t.id), reverse=True)


# -- what changed -----------------------------------------------------------------------------------


def _status_title(
    name: str,
    from_state: str,
    to_state: str,
    message: str,
    failing_since: datetime.datetime | None,
    at: datetime.datetime,
) -> str:
    if to_state == State.OK:
        if failing_since is None or from_state == State.PENDING:
            return f"{name}: recovered"
        return f"{name}: recovered after {describe_age((at - failing_since).total_seconds())}"
    return f"{name}: {_failing_word(to_state)} - {message}"


def _failing_word(to_state: str) -> str:
    return "degraded" if to_state == State.WARNING else "failing"


def _status_transition(
    key: str,
    name: str,
    from_state: str,
    to_state: str,
    at: datetime.datetime,
    message: str,
    failing_since: datetime.datetime | None,
    *,
    label: str | None = None,
) -> Transition:
    title = _status_title(label or name, from_state, to_state, message, failing_since, at)
    return _status_entry(key, name, from_state, to_state, at, message, title)


def _status_entry(
    key: str, name: str, from_state: str, to_state: str, at: datetime.datetime, message: str, title: str, *more: str
) -> Transition:
    """A status entry; its id a digest of key, moment, from and to (and ``more``, for a second entry
    of the same moment and states)."""
    return Transition(
        id=_stable_id(key, STATUS, _iso(at), from_state, to_state, *more),
        key=key,
        name=name,
        kind=STATUS,
        from_state=from_state,
        to_state=to_state,
        at=at,
        message=message,
        title=title,
    )


def _maintenance_transition(
    key: str, name: str, from_state: str, to_state: str, current: Snapshot, label: str | None
) -> Transition:
    """A maintenance's start (to ``maintenance``) or end (from it): one feed item each."""
    maintenance = current.maintenance
    at = current.checked_at
    if maintenance is not None:
        message = maintenance.describe()
        title = f"{label or name}: maintenance started - {maintenance.reason} (until {maintenance.until:%H:%M} UTC)"
    else:
        message = current.message
        now = "ok" if current.status is Status.OK else f"{_failing_word(current.status.value)} - {current.message}"
        title = f"{label or name}: maintenance ended - {now}"
    return _status_entry(key, name, from_state, to_state, at, message, title)


def still_failing_transition(
    key: str, name: str, label: str, dependency: str, snapshot: Snapshot, at: datetime.datetime
) -> Transition:
    """A dependant whose failure was folded into ``dependency``'s, still failing once that recovered:
    announced now, on its own (``health_check.dependencies``)."""
    state = snapshot.status.value
    word = "degraded" if snapshot.status is Status.WARNING else "failing"
    title = f"{label}: still {word} after {dependency} recovered - {snapshot.message}"
    return _status_entry(key, name, state, state, at, snapshot.message, title, "still failing")


def stale_transition(name: str, snapshot: Snapshot, stale_intervals: float, *, title: str | None = None) -> Transition:
    """The moment readers started calling ``snapshot``'s check stale; same id in every process.

    Readers synthesise it from the last snapshot (the poller cannot report its own death); the poller
    records the very same entry when it comes back, so a feed reader sees one item, not two.
    ``title`` is the check's human title (``health_check.specs.check_title()``), ``name`` when omitted.
    """
    allowance = snapshot.allowance_seconds(stale_intervals)
    at = snapshot.checked_at + datetime.timedelta(seconds=allowance)
    message = f"no result for {describe_age(allowance)}; is the poller running?"
    return Transition(
        id=_stable_id(snapshot.key, STATUS, _iso(snapshot.checked_at), "stale"),
        key=snapshot.key,
        name=name,
        kind=STATUS,
        from_state=snapshot.status.value,
        to_state=State.STALE.value,
        at=at,
        message=message,
        title=f"{title or name}: stale - {message}",
    )


def _incidents(snapshot: Snapshot | None) -> dict[str, Mapping[str, Any]]:
    found: dict[str, Mapping[str, Any]] = {}
    if snapshot is None:
        return found
    incidents = snapshot.details.get("incidents") if isinstance(snapshot.details, Mapping) else None
    for incident in incidents if isinstance(incidents, list) else ():
        if isinstance(incident, Mapping) and incident.get("id"):
            found[str(incident["id"])] = incident
    return found


@dataclasses.dataclass(frozen=True, slots=True)
class _IncidentChange:
    """An incident entry, and the phrase that names it when it is folded into a status entry."""

    transition: Transition
    phrase: str  # "Incident: Delayed job starts", "Resolved: Delayed job starts"
    resolved: bool


def _incident_transition(
    key: str,
    name: str,
    incident: Mapping[str, Any],
    before: Mapping[str, Any] | None,
    at: datetime.datetime,
    *,
    resolved: bool = False,
    label: str | None = None,
) -> _IncidentChange:
    title_name = label or name
    incident_name = incident.get("name") or f"incident {incident.get('id')}"
    status = "resolved" if resolved else str(incident.get("status") or "open").lower()
    impact = str(incident.get("impact") or "none").lower()
    if resolved:
        started = parse_iso(incident.get("started_at"))
        after = f" after {describe_age((at - started).total_seconds())}" if started and at > started else ""
        title = f"{title_name}: resolved{after} - Incident: {incident_name}"
        phrase = f"Resolved: {incident_name}"
    elif before is None:
        title = f"{title_name}: {_IMPACT_WORDS.get(impact, 'degraded')} - Incident: {incident_name}"
        phrase = f"Incident: {incident_name}"
    else:
        was = str(before.get("impact") or "none").lower()
        impact_note = f", now {_IMPACT_WORDS.get(impact, impact)}" if was != impact else ""
        title = f"{title_name}: {status}{impact_note} - Incident: {incident_name}"
        phrase = f"Incident: {incident_name} ({status}{impact_note})"
    record = {field: incident.get(field) for field in DETAIL_FIELDS}
    if resolved:
        record["status"] = "resolved"
    transition = Transition(
        id=_stable_id(key, INCIDENT, incident.get("id"), status, impact, _iso(at)),
        key=key,
        name=name,
        kind=INCIDENT,
        from_state="" if before is None else str(before.get("status") or ""),
        to_state=status,
        at=at,
        message=str(incident_name),
        title=title,
        incident=record,
    )
    return _IncidentChange(transition, phrase, resolved)


def _incident_changes(
    key: str, name: str, previous: Snapshot | None, current: Snapshot, label: str | None = None
) -> list[_IncidentChange]:
    """New incidents, updates that change status or impact, and resolutions (closed or gone)."""
    before, after = _incidents(previous), _incidents(current)
    found: list[_IncidentChange] = []
    for identifier, incident in after.items():
        old = before.get(identifier)
        closed = is_closed(incident.get("status"))
        at = parse_iso(incident.get("updated_at")) or current.checked_at
        if closed:
            if old is None or not is_closed(old.get("status")):
                found.append(_incident_transition(key, name, incident, old, at, resolved=True, label=label))
        elif old is None or (old.get("status"), old.get("impact")) != (incident.get("status"), incident.get("impact")):
            found.append(_incident_transition(key, name, incident, old, at, label=label))
    for identifier, incident in before.items():
        if identifier not in after and not is_closed(incident.get("status")):
            # Statuspage drops resolved incidents from its list; the run that no longer sees it is the moment.
            found.append(
                _incident_transition(key, name, incident, incident, current.checked_at, resolved=True, label=label)
            )
    return found


def _fold(status: Transition, change: _IncidentChange, label: str) -> Transition:
    """One entry for a status change and the incident that explains it, seen by the same run.

    A reader posts one message ("GitHub Actions: degraded - Incident: Delayed job starts") instead of
    two for one event. The id covers the status change and the incident, so it is as stable as both.
    """
    incident = change.transition.incident or {}
    head = status.title if status.to_state == State.OK else f"{label}: {_failing_word(status.to_state)}"
    return dataclasses.replace(
        status,
        id=_stable_id(
            status.key,
            STATUS,
            _iso(status.at),
            status.from_state,
            status.to_state,
            INCIDENT,
            incident.get("id"),
            change.transition.to_state,
        ),
        title=f"{head} - {change.phrase}",
        incident=incident,
    )


def _foldable(status: Transition, found: list[_IncidentChange]) -> _IncidentChange | None:
    """The incident change that explains ``status``: a resolution for a recovery, else an open incident."""
    if status.to_state in (State.STALE.value, State.PENDING.value):
        return None
    recovering = status.to_state == State.OK
    return next((change for change in found if change.resolved == recovering), None)


def changes(
    previous: Snapshot | None,
    current: Snapshot,
    name: str,
    *,
    stale_intervals: float,
    title: str | None = None,
    outage_started_at: datetime.datetime | None = None,
) -> list[Transition]:
    """Every transition between two consecutive reported snapshots of one check, oldest first.

    A status change and an incident change seen by the same run are one entry (one real change, one
    feed item); other incident updates stay entries of their own. ``title`` is the check's human title;
    ``outage_started_at`` is when the outage began (the check left "ok", went stale, or first failed),
    so "recovered after" spans the whole outage (warning, then stale while the poller was away, then
    error, then ok), not only its last state.
    """
    key = current.key
    found: list[Transition] = []
    status: Transition | None = None
    in_maintenance = previous is not None and previous.maintenance is not None
    if current.maintenance is not None:
        # Its start is one entry; what the check does meanwhile is nobody's alarm (its reading shows it).
        if in_maintenance:
            return []
        start = State.PENDING.value if previous is None else previous.status.value
        return [_maintenance_transition(key, name, start, State.MAINTENANCE.value, current, title)]
    if in_maintenance:
        # Its end is one entry, saying what the check is now; recovery and failure are not announced again.
        found.append(_maintenance_transition(key, name, State.MAINTENANCE.value, current.status.value, current, title))
        return found + [change.transition for change in _incident_changes(key, name, previous, current, title)]
    if previous is None:
        if current.status is not Status.OK:
            status = _status_transition(
                key,
                name,
                State.PENDING.value,
                current.status.value,
                current.checked_at,
                current.message,
                None,
                label=title,
            )
    elif (current.checked_at - previous.checked_at).total_seconds() > previous.allowance_seconds(stale_intervals):
        stale = stale_transition(name, previous, stale_intervals, title=title)
        failing_since = (previous.since or previous.checked_at) if previous.status is not Status.OK else stale.at
        if outage_started_at is not None:
            failing_since = min(failing_since, outage_started_at)
        found.append(stale)
        status = _status_transition(
            key,
            name,
            State.STALE.value,
            current.status.value,
            current.checked_at,
            current.message,
            failing_since,
            label=title,
        )
    elif current.status is not previous.status:
        failing_since = previous.since or previous.checked_at
        if current.status is Status.OK and outage_started_at is not None:
            failing_since = min(failing_since, outage_started_at)
        status = _status_transition(
            key,
            name,
            previous.status.value,
            current.status.value,
            current.checked_at,
            current.message,
            failing_since,
            label=title,
        )
    incidents = _incident_changes(key, name, previous, current, title)
    if status is not None:
        folded = _foldable(status, incidents)
        if folded is not None:
            incidents.remove(folded)
            status = _fold(status, folded, title or name)
        found.append(status)
    found += [change.transition for change in incidents]
    return found


def after_recorded_stale(
    recorded: Iterable[Transition],
    found: Sequence[Transition],
    current: Snapshot,
    name: str,
    *,
    title: str | None = None,
    outage_started_at: datetime.datetime | None = None,
) -> list[Transition]:
    """``found`` (what ``changes()`` found for a run), made to follow a stale entry the journal already holds.

    A reader records the stale entry it infers (``stale_transition()``), so that every worker and
    host lists the same item and none withdraws it. The poller, back, may not see that gap itself
    (it took a result the reader had not yet seen, or its previous snapshot is another one); its run
    still ends the stale period: ``stale -> <status>``, never a second stale item for the same outage.
    ``recorded`` is the check's recent entries, newest first.
    """
    latest = next((entry for entry in recorded if entry.kind == STATUS), None)
    if latest is None or latest.to_state != State.STALE:
        return list(found)
    kept = [entry for entry in found if not (entry.kind == STATUS and entry.to_state == State.STALE)]
    at = next((index for index, entry in enumerate(kept) if entry.kind == STATUS), None)
    if at is not None and kept[at].from_state == State.STALE:
        return kept
    failing_since = min(outage_started_at, latest.at) if outage_started_at is not None else latest.at
    back = _status_transition(
        current.key,
        name,
        State.STALE.value,
        current.status.value,
        current.checked_at,
        current.message,
        failing_since,
        label=title,
    )
    if at is None:
        return [back, *kept]
    kept[at] = back
    return kept


def merge_recent(stored: Iterable[Transition], synthesized: Iterable[Transition], limit: int) -> list[Transition]:
    """Stored entries plus the stale ones readers infer, without duplicates, newest first, at most ``limit``."""
    by_id: dict[str, Transition] = {}
    for transition in list(stored) + list(synthesized):
        by_id.setdefault(transition.id, transition)
    return newest_first(by_id.values())[:limit]


# -- entries in a store -----------------------------------------------------------------------------


class JournalStore(Protocol):
    """What the journal needs of a store (``health_check.store.base.Store`` has it): plain entries.

    The store keeps JSON-safe dicts and reads only their ``id``, ``key`` and ``at``; turning them
    into ``Transition`` objects is the journal's job, so the store never imports this module.
    """

    description: str

    def append_journal(
        self, entries: Sequence[Mapping[str, Any]], *, retention: int, max_age: float | None = ...
    ) -> Sequence[Mapping[str, Any]]: ...

    def read_journal(self, keys: Iterable[str], limit: int) -> Sequence[Mapping[str, Any]]: ...


def append_transitions(
    store: JournalStore, transitions: Sequence[Transition], *, retention: int, max_age: float | None = None
) -> list[Transition]:
    """Add ``transitions`` to the store's journal; returns those stored (not duplicates), with their ``seq``.

    The store keeps at most ``retention`` entries per check and, given ``max_age`` (seconds), drops
    older ones but the newest of them (``store.base.trimmed()``).

    Raises the store's ``StoreError``.
    """
    if not transitions:
        return []
    entries = [transition.to_dict() for transition in transitions]
    if max_age is not None and _takes_max_age(store):
        stored = store.append_journal(entries, retention=retention, max_age=max_age)
    else:  # a project's own store, written before max_age existed: count-bounded only
        stored = store.append_journal(entries, retention=retention)
    return [Transition.from_dict(entry) for entry in stored]


_TAKES_MAX_AGE: dict[type, bool] = {}


def _takes_max_age(store: object) -> bool:
    """Whether the store's ``append_journal`` takes ``max_age`` (looked up once per store class)."""
    kind = type(store)
    found = _TAKES_MAX_AGE.get(kind)
    if found is None:
        try:
            parameters = inspect.signature(store.append_journal).parameters  # type: ignore[attr-defined]
        except (TypeError, ValueError):
            parameters = {}  # type: ignore[assignment]
        found = _TAKES_MAX_AGE[kind] = "max_age" in parameters or any(
            parameter.kind is inspect.Parameter.VAR_KEYWORD for parameter in parameters.values()
        )
    return found


def read_transitions(store: JournalStore, keys: Iterable[str], limit: int) -> list[Transition]:
    """The newest ``limit`` entries of ``keys``, newest first; an entry that is not one is logged and skipped.

    Raises the store's ``StoreError``.
    """
    found = []
    for entry in store.read_journal(keys, limit):
        try:
            found.append(Transition.from_dict(entry))
        except (ValueError, KeyError, TypeError, OverflowError, AttributeError):
            logger.warning("Ignoring an unreadable journal entry for %s in the %s", entry.get("key"), store.description)
    return found
