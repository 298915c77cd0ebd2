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
from typing import ClassVar

try:
    import psutil
except ImportError as error:  # pragma: no cover - depends on the environment
    raise ImportError(
        'health_check.contrib.psutil needs psutil: pip install "django-health-snapshot[psutil]"'
    ) from error

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
        battery = reader() if reader else None
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
    """Warn about CPU utilisation over a window.

    Without ``interval`` the window is the time since this check's previous run, so with a poller it
    is the poll interval. The very first run of a process has no previous sample, so it measures a
    short blocking window instead of reporting a meaningless 0 %.

    Args:
        max_usage_percent: Warn at or above this usage, or None to disable.
        interval: A fixed, blocking sampling window for every run instead.
    """

    default_poll_interval: ClassVar[datetime.timedelta] = _FIVE_SECONDS
    first_window: ClassVar[float] = 0.5  # seconds

    max_usage_percent: float | None = dataclasses.field(default=80.0, repr=False)
    interval: datetime.timedelta | None = dataclasses.field(default=None, repr=False)
    hostname: str = dataclasses.field(default_factory=socket.gethostname, init=False)

    def __post_init__(self) -> None:
        super().__post_init__()  # the thresholds' and scope's validation
        self._previous: psutil._common.scputimes | None = None  # type: ignore[name-defined]
        self._sample_guard = threading.Lock()

    def sample_percent(self) -> float:
        """CPU usage in percent over the window described in the class docstring."""
        if self.interval:
            before = psutil.cpu_times()
            threading.Event().wait(self.interval.total_seconds())
            return _busy_fraction(before, psutil.cpu_times()) * 100
        with self._sample_guard:
            before = self._previous
            if before is None:
                before = psutil.cpu_times()
                threading.Event().wait(self.first_window)
            after = psutil.cpu_times()
            self._previous = after
        return _busy_fraction(before, after) * 100

    def run(self) -> dict[str, float | str]:
        try:
            usage = self.sample_percent()
        except ValueError as error:
            raise ServiceReturnedUnexpectedResult(f"CPU usage could not be read: {error}") from error
        measured = _observed(usage)
        if self.max_usage_percent and usage >= self.max_usage_percent:
            raise ServiceWarning(f"CPU {usage:.1f}{_NNBSP}%", details=measured)
        return measured


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
        memory = psutil.virtual_memory()
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
