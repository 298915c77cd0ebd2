"""Operating-system resources of this host: CPU, memory, disk, battery and temperature.

Same classes, arguments and thresholds as django-health-check 4.x. Cheap to run, so they are polled
every few seconds by default.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import pathlib
import socket
import threading
import time
from typing import ClassVar

try:
    import psutil
except ImportError as error:  # pragma: no cover - depends on the environment
    raise ImportError(
        'health_check.contrib.psutil needs psutil: pip install "django-health-snapshot[psutil]"'
    ) from error

from health_check._time import describe_age
from health_check.base import HealthCheck
from health_check.exceptions import ServiceReturnedUnexpectedResult, ServiceUnavailable, ServiceWarning

__all__ = ["CPU", "Battery", "Disk", "Memory", "Temperature"]

_NNBSP = "\u202f"  # narrow no-break space before units, as django-health-check writes them
_FIVE_SECONDS = datetime.timedelta(seconds=5)


@dataclasses.dataclass
class Battery(HealthCheck):
    """Warn about a low battery or unplugged power.

    Args:
        min_percent_available: Minimum charge in percent, or None to disable.
        power_plugged: Warn when running on battery.
    """

    default_poll_interval: ClassVar[datetime.timedelta] = _FIVE_SECONDS

    min_percent_available: float | None = dataclasses.field(default=20.0, repr=False)
    power_plugged: bool = dataclasses.field(default=False, repr=False)
    hostname: str = dataclasses.field(default_factory=socket.gethostname, init=False)

    def run(self) -> None:
        reader = getattr(psutil, "sensors_battery", None)
        try:
            battery = reader() if reader else None
        except ValueError as error:  # psutil could not make sense of what the OS reported
            raise ServiceReturnedUnexpectedResult(f"ValueError: battery status could not be read: {error}") from error
        if battery is None:
            raise ServiceUnavailable("Battery information not available on this host (no battery found)")
        if self.min_percent_available and battery.percent <= self.min_percent_available:
            raise ServiceWarning(f"Battery {battery.percent:.1f}{_NNBSP}%")
        if self.power_plugged and not battery.power_plugged:
            raise ServiceWarning(f"Power unplugged with battery at {battery.percent:.1f}{_NNBSP}%")


def _busy_fraction(before: psutil._common.scputimes, after: psutil._common.scputimes) -> float:  # type: ignore[name-defined]
    """Share of CPU time spent busy between two ``cpu_times()`` samples, as psutil computes it."""

    def split(times: psutil._common.scputimes) -> tuple[float, float]:  # type: ignore[name-defined]
        total = sum(times)
        # On Linux guest time is already counted in user/nice.
        total -= getattr(times, "guest", 0.0) + getattr(times, "guest_nice", 0.0)
        idle = times.idle + getattr(times, "iowait", 0.0)
        return total, total - idle

    total_before, busy_before = split(before)
    total_after, busy_after = split(after)
    elapsed = total_after - total_before
    if elapsed <= 0:
        return 0.0
    return min(max((busy_after - busy_before) / elapsed, 0.0), 1.0)


def _observed(percent: float) -> dict[str, float | str]:
    """The measurement kept in the snapshot: health+json's observedValue and observedUnit."""
    return {"observed_value": round(float(percent), 1), "observed_unit": "percent"}


@dataclasses.dataclass
class CPU(HealthCheck):
    """Warn when CPU utilisation has stayed over a limit for a sustained time, never on a burst.

    A busy host is not a sick one: if a few seconds at 100 % failed the node tier, a load balancer or
    readiness probe would pull every busy instance at once, the classic cascading outage. So each run
    measures one window and the check warns only once every window for ``sustained`` was at or above
    ``max_usage_percent``; one window under the limit starts the count again. This is done here and not
    with ``failure_duration``: the poller reports a first run, or one after a stale gap, as it is, and a
    deploy (workers booting, the poller starting) is exactly when the CPU is busy.

    Without ``interval`` a window is the time since this check's previous run, so with a poller it is
    the poll interval and the windows follow each other without a gap. The very first run of a process
    has no previous sample, so it measures a short blocking window instead of reporting a meaningless 0 %.

    Args:
        max_usage_percent: Warn at or above this usage, or None to disable.
        interval: A fixed, blocking sampling window for every run instead.
        sustained: How long usage must stay at or above the limit before the check warns (keyword
            only). ``timedelta(0)`` or None warns on a single window, as django-health-check did.
    """

    default_poll_interval: ClassVar[datetime.timedelta] = _FIVE_SECONDS
    first_window: ClassVar[float] = 0.5  # seconds

    max_usage_percent: float | None = dataclasses.field(default=80.0, repr=False)
    interval: datetime.timedelta | None = dataclasses.field(default=None, repr=False)
    # Out of the key at its default, so the checks of a project that upgrades keep their snapshots.
    sustained: datetime.timedelta | None = dataclasses.field(
        default=datetime.timedelta(minutes=2), repr=False, kw_only=True, metadata={"key_if_set": True}
    )
    hostname: str = dataclasses.field(default_factory=socket.gethostname, init=False)

    def __post_init__(self) -> None:
        super().__post_init__()  # the thresholds' and scope's validation
        sustained = self.sustained
        valid = isinstance(sustained, datetime.timedelta) and sustained >= datetime.timedelta(0)
        if sustained is not None and not valid:
            raise ValueError(
                f"CPU sustained is {sustained!r}, expected a datetime.timedelta of 0 or more "
                "(e.g. sustained=timedelta(minutes=2)), or None to warn on a single window"
            )
        self._previous: tuple[float, psutil._common.scputimes] | None = None  # type: ignore[name-defined]
        self._sample_guard = threading.Lock()
        # The current run of windows at or above the limit: (start, busy seconds, measured seconds).
        self._over: tuple[float, float, float] | None = None
        self._over_guard = threading.Lock()

    def sample_window(self) -> tuple[float, float, float]:
        """Measure one window: ``(start, end, usage percent)``, start and end on ``time.monotonic()``.

        The window is the one described in the class docstring. Tests override this to replay usage.
        """
        if self.interval:
            start, before = time.monotonic(), psutil.cpu_times()
            threading.Event().wait(self.interval.total_seconds())
            return start, time.monotonic(), _busy_fraction(before, psutil.cpu_times()) * 100
        with self._sample_guard:
            if self._previous is None:
                self._previous = (time.monotonic(), psutil.cpu_times())
                threading.Event().wait(self.first_window)
            start, before = self._previous
            end, after = time.monotonic(), psutil.cpu_times()
            self._previous = (end, after)
        return start, end, _busy_fraction(before, after) * 100

    def run(self) -> dict[str, float | str]:
        try:
            start, end, usage = self.sample_window()
        except ValueError as error:
            raise ServiceReturnedUnexpectedResult(f"ValueError: CPU usage could not be read: {error}") from error
        measured = _observed(usage)
        limit = self.max_usage_percent
        if not limit or usage < limit:
            with self._over_guard:
                self._over = None
            return measured
        if not self.sustained:
            raise ServiceWarning(f"CPU {usage:.1f}{_NNBSP}%", details=measured)
        with self._over_guard:
            since, busy, seconds = self._over or (start, 0.0, 0.0)
            busy, seconds = busy + usage * (end - start) / 100, seconds + (end - start)
            self._over = (since, busy, seconds)
        lasted = end - since
        if lasted < self.sustained.total_seconds():
            return measured
        average = busy / seconds * 100 if seconds > 0 else usage
        raise ServiceWarning(
            f"CPU usage {average:.1f}{_NNBSP}% for {describe_age(lasted)} (limit {limit:g}{_NNBSP}%)", details=measured
        )


@dataclasses.dataclass
class Disk(HealthCheck):
    """Warn about disk usage of the file system holding ``path``.

    Args:
        path: A path on the file system to watch; the working directory by default.
        max_disk_usage_percent: Warn at or above this usage, or None to disable.
    """

    default_poll_interval: ClassVar[datetime.timedelta] = _FIVE_SECONDS

    path: pathlib.Path | str = dataclasses.field(default_factory=os.getcwd)
    max_disk_usage_percent: float | None = dataclasses.field(default=90.0, repr=False)
    hostname: str = dataclasses.field(default_factory=socket.gethostname, init=False)

    def run(self) -> dict[str, float | str]:
        try:
            usage = psutil.disk_usage(str(self.path))
        except ValueError as error:  # e.g. a path with a NUL byte
            raise ServiceReturnedUnexpectedResult(
                f"ValueError: disk usage of {str(self.path)!r} could not be read: {error}"
            ) from error
        except FileNotFoundError as error:
            raise ServiceUnavailable(f"Disk path {str(self.path)!r} does not exist") from error
        except OSError as error:
            # strerror is None for errors psutil raises itself; never show "None".
            raise ServiceUnavailable(f"Disk path {str(self.path)!r}: {error.strerror or error}") from error
        measured = _observed(usage.percent)
        if self.max_disk_usage_percent and usage.percent >= self.max_disk_usage_percent:
            raise ServiceWarning(f"{usage.percent}{_NNBSP}% disk usage", details=measured)
        return measured


@dataclasses.dataclass
class Memory(HealthCheck):
    """Warn about available memory.

    Args:
        min_gibibytes_available: Warn below this many GiB available, or None to disable.
        max_memory_usage_percent: Warn at or above this usage, or None to disable.
    """

    default_poll_interval: ClassVar[datetime.timedelta] = _FIVE_SECONDS

    min_gibibytes_available: float | None = dataclasses.field(default=None, repr=False)
    max_memory_usage_percent: float | None = dataclasses.field(default=90.0, repr=False)
    hostname: str = dataclasses.field(default_factory=socket.gethostname, init=False)

    def run(self) -> dict[str, float | str]:
        try:
            memory = psutil.virtual_memory()
        except ValueError as error:  # psutil could not make sense of /proc/meminfo
            raise ServiceReturnedUnexpectedResult(f"ValueError: memory usage could not be read: {error}") from error
        available = memory.available / 1024**3
        total = memory.total / 1024**3
        message = f"RAM {available:.1f}/{total:.1f}GiB ({memory.percent}{_NNBSP}%)"
        measured = _observed(memory.percent)
        if self.min_gibibytes_available and available < self.min_gibibytes_available:
            raise ServiceWarning(message, details=measured)
        if self.max_memory_usage_percent and memory.percent >= self.max_memory_usage_percent:
            raise ServiceWarning(message, details=measured)
        return measured


@dataclasses.dataclass
class Temperature(HealthCheck):
    """Warn about hardware temperatures.

    Args:
        device: The sensor device to read (``coretemp`` by default), or None for all devices.
        max_temperature_celsius: Warn at or above this, or None to use each sensor's own "high" mark.
    """

    default_poll_interval: ClassVar[datetime.timedelta] = _FIVE_SECONDS

    device: str | None = "coretemp"
    max_temperature_celsius: float | None = dataclasses.field(default=None, repr=False)
    hostname: str = dataclasses.field(default_factory=socket.gethostname, init=False)

    def run(self) -> None:
        reader = getattr(psutil, "sensors_temperatures", None)
        temperatures = reader() if reader else {}
        if not temperatures:
            raise ServiceUnavailable("Temperature information not available on this host (no sensors found)")
        if self.device:
            if self.device not in temperatures:
                found = ", ".join(sorted(temperatures))
                raise ServiceUnavailable(f"Sensor {self.device!r} not found (this host has: {found})")
            devices = {self.device: temperatures[self.device]}
        else:
            devices = temperatures
        for device, sensors in devices.items():
            for sensor in sensors:
                limit = self.max_temperature_celsius or sensor.high
                if limit and sensor.current >= limit:
                    prefix = "" if self.device else f"{device} "
                    raise ServiceWarning(f"{prefix}{sensor.label} {sensor.current:.1f}{_NNBSP}°C")
