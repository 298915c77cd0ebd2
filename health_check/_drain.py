"""A host being drained: the mark ``health_check_drain`` writes and readiness endpoints read.

Kubernetes runs a ``preStop`` hook, then sends SIGTERM; until the endpoints controller and every load
balancer have taken the pod out, requests keep coming. The hook ``python manage.py health_check_drain``
marks this host as draining in the snapshot store and waits: every endpoint declared
``readiness=True`` then answers 503 at once (the mark is read with the snapshots, so no request pays
for it), while liveness endpoints and every other URL keep serving.

The mark is a snapshot under a key of this host (``health_check.drain``, ``@<host>`` in a store shared by
hosts), so every store, its caches and its outage handling carry it as they carry check results. It
ends by itself:

- at ``until`` (the drain's ``--seconds``): a drain command that crashed or was killed never leaves a host
  draining for longer;
- when the web processes restart: a mark older than this server (its process group's leader, the
  gunicorn or uvicorn master in a container) belongs to the server that was drained, not to this one;
- when the command ends it early (``--end``, or Ctrl-C).
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import os
import time

from health_check.snapshot import Reading, Snapshot, State, Status

__all__ = [
    "DRAIN_KEY",
    "Drain",
    "active_drain",
    "drain_key",
    "drain_reading",
    "drain_snapshot",
    "host_started_at",
    "reading_as_command",
    "server_started_at",
]

DRAIN_KEY = "health_check.drain"
_UTC = datetime.UTC


def drain_key(host_id: str | None) -> str:
    """The mark's key: one per host in a store shared by hosts, as host-scoped checks are keyed."""
    return f"{DRAIN_KEY}@{host_id}" if host_id else DRAIN_KEY


@dataclasses.dataclass(frozen=True, slots=True)
class Drain:
    """A drain in effect: when it began and when it ends (timestamps)."""

    started: float
    until: float

    @property
    def message(self) -> str:
        ends = datetime.datetime.fromtimestamp(self.until, _UTC).strftime("%H:%M:%S UTC")
        return f"Unavailable: draining: this host is shutting down (health_check_drain, until {ends})"


def drain_snapshot(key: str, started: float, seconds: float) -> Snapshot:
    """The mark of a drain from ``started`` for ``seconds`` (``seconds=0``: the end of a drain)."""
    at = datetime.datetime.fromtimestamp(started, _UTC)
    draining = seconds > 0
    return Snapshot(
        key=key,
        status=Status.ERROR if draining else Status.OK,
        message="Unavailable: draining" if draining else "OK: not draining",
        checked_at=at,
        duration_seconds=0.0,
        interval_seconds=max(seconds, 1.0),
        timeout_seconds=0.0,
        details={"drain_started": started, "drain_until": started + max(seconds, 0.0)},
    )


#: Set by a management command that reads the drain (``health_check --no-http``): it is no server, so
#: a drain counts for it unless the host (the container) started after the mark.
_NOT_A_SERVER = False


def reading_as_command() -> None:
    """This process is a command, not a server: drains are measured against the host's start."""
    global _NOT_A_SERVER
    _NOT_A_SERVER = True
    server_started_at.cache_clear()


@functools.cache
def server_started_at() -> float:
    """When the server this process serves for started, so that a drain of an earlier server is over.

    - A worker (its process group led by another process): the group leader's start, the master of a
      pre-fork server; a worker forked or recycled during a drain drains too.
    - A process leading its own group (a single-process server): its own start.
    - Otherwise, and for a command (``reading_as_command()``): the host's start, its PID 1 (in a
      container, the container's start), so that a container restarted after the drain is not draining.

    Ages are measured on the boot clock (Linux ``/proc``) and subtracted from ``time.time()``, the clock
    the mark is written with: psutil's process start is the boot time plus the age, and the boot time is
    off by as much as the wall clock was stepped since boot (seconds in a VM).
    """
    if not _NOT_A_SERVER:
        leader = os.getpgid(0)
        age = _age_seconds(leader)  # the group's leader, or this process when it leads its own group
        if age is not None:
            return time.time() - age
    return host_started_at()


def host_started_at() -> float:
    """When PID 1 started: the container's start in a container, the boot elsewhere (0 when unknown)."""
    age = _age_seconds(1)
    return time.time() - age if age is not None else 0.0


def _age_seconds(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()  # the command name may hold spaces
        with open("/proc/uptime", encoding="ascii") as uptime:
            now = float(uptime.read().split()[0])
        return max(0.0, now - int(fields[19]) / os.sysconf("SC_CLK_TCK"))  # field 22: start, in ticks
    except (OSError, ValueError, IndexError):
        pass
    try:
        import psutil  # elsewhere than Linux; imported here so that importing this module stays cheap

        return max(0.0, time.time() - float(psutil.Process(pid).create_time()))
    except Exception:  # noqa: BLE001 - no answer for this process: the caller tries the next
        return None


def active_drain(mark: Snapshot | None, now: float) -> Drain | None:
    """The drain ``mark`` says is in effect at ``now`` for this server, if any."""
    if mark is None:
        return None
    details = mark.details
    started, until = details.get("drain_started"), details.get("drain_until")
    if not isinstance(started, (int, float)) or not isinstance(until, (int, float)):
        return None
    if now >= until or started < server_started_at():
        return None
    return Drain(started=float(started), until=float(until))


def drain_reading(message: str) -> Reading:
    """The reading a readiness endpoint adds while its host drains."""
    return Reading(
        name="Drain",
        state=State.ERROR,
        message=message,
        snapshot=None,
        age_seconds=None,
        labels={"check": "Drain"},
    )
