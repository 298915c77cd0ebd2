"""The host checks (CPU, Memory, Disk, Battery, Temperature) on this machine, through the real runner.

Thresholds are set so the outcome does not depend on how busy the shared test machine is: defaults
where the machine is far from them (memory, disk), a tiny threshold to force the warning path.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator

import psutil
import pytest

from health_check.contrib.psutil import CPU, Battery, Disk, Memory, Temperature
from health_check.endpoints import CheckSpec
from health_check.snapshot import Status

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY = 0.0001  # percent: any real measurement is above it
NNBSP = "\u202f"


@pytest.fixture
def cpu_load() -> Iterator[None]:
    """Keep one core busy for the test, so a CPU measurement cannot be 0 % on an idle machine."""
    stop = threading.Event()

    def spin() -> None:
        while not stop.is_set():
            sum(range(1000))

    thread = threading.Thread(target=spin, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join(5)


# --------------------------------------------------------------------------- CPU


def test_cpu__below_threshold_ok(run_check):
    """Usage under the threshold reports OK (100 %: a shared machine may be busy, never above all cores)."""
    snapshot = run_check(CPU(max_usage_percent=100.0))
    assert (snapshot.status, snapshot.message) == (Status.OK, "OK")


def test_cpu__first_run_measures_real_usage(run_check, cpu_load):
    """A fresh check's first run measures a real window, not psutil's meaningless first 0 %, and warns above the limit."""
    snapshot = run_check(CPU(max_usage_percent=TINY))
    assert snapshot.status is Status.WARNING
    assert re.fullmatch(rf"Warning: CPU \d+\.\d{NNBSP}%", snapshot.message), snapshot.message
    assert snapshot.message != f"Warning: CPU 0.0{NNBSP}%"


def test_cpu__later_runs_measure_since_previous_run(run_check, cpu_load):
    """Later runs measure the time since the previous run without blocking, and still see the load."""
    check = CPU(max_usage_percent=TINY)
    run_check(check)
    threading.Event().wait(0.1)  # let a few clock ticks pass under load
    snapshot = run_check(check)
    assert snapshot.status is Status.WARNING, snapshot.message
    assert re.fullmatch(rf"Warning: CPU \d+\.\d{NNBSP}%", snapshot.message), snapshot.message
    assert snapshot.duration_seconds < CPU.first_window, snapshot.duration_seconds


def test_cpu__fixed_interval_blocks_for_it(run_check):
    """With interval=0.2 s every run samples a 0.2 s window."""
    check = CPU(max_usage_percent=100.0, interval=datetime.timedelta(seconds=0.2))
    for _ in range(2):
        snapshot = run_check(check)
        assert (snapshot.status, snapshot.message) == (Status.OK, "OK")
        assert 0.19 <= snapshot.duration_seconds < 2, snapshot.duration_seconds


# --------------------------------------------------------------------------- memory


def test_memory__default_thresholds_ok(run_check):
    """With the defaults (warn at 90 % used) this machine's memory reports OK."""
    assert psutil.virtual_memory().percent < 80, "the test machine itself is short of memory"
    snapshot = run_check(Memory())
    assert (snapshot.status, snapshot.message) == (Status.OK, "OK")


MEMORY_WARNING = re.compile(rf"Warning: RAM \d+\.\d/\d+\.\dGiB \(\d+(\.\d+)?{NNBSP}%\)")


def test_memory__usage_over_threshold_warns(run_check):
    """Usage at or above max_memory_usage_percent warns with available/total GiB and the usage."""
    snapshot = run_check(Memory(max_memory_usage_percent=TINY))
    assert snapshot.status is Status.WARNING
    assert MEMORY_WARNING.fullmatch(snapshot.message), snapshot.message


def test_memory__too_little_available_warns(run_check):
    """Less available than min_gibibytes_available warns with the same message."""
    snapshot = run_check(Memory(min_gibibytes_available=1024**2, max_memory_usage_percent=None))
    assert snapshot.status is Status.WARNING
    assert MEMORY_WARNING.fullmatch(snapshot.message), snapshot.message


# --------------------------------------------------------------------------- disk


def test_disk__default_threshold_ok(run_check, tmp_path):
    """With the default (warn at 90 % used) the test file system reports OK."""
    assert psutil.disk_usage(str(tmp_path)).percent < 85, "the test machine's disk is nearly full"
    snapshot = run_check(Disk(path=tmp_path))
    assert (snapshot.status, snapshot.message) == (Status.OK, "OK")


def test_disk__usage_over_threshold_warns(run_check, tmp_path):
    """Usage at or above max_disk_usage_percent warns in django-health-check's format."""
    snapshot = run_check(Disk(path=tmp_path, max_disk_usage_percent=TINY))
    assert snapshot.status is Status.WARNING
    assert re.fullmatch(rf"Warning: [\d.]+{NNBSP}% disk usage", snapshot.message), snapshot.message


def test_disk__missing_path(run_check, tmp_path):
    """A path that does not exist is Unavailable, naming the path."""
    missing = tmp_path / "not-mounted"
    snapshot = run_check(Disk(path=missing))
    assert (snapshot.status, snapshot.message) == (
        Status.ERROR,
        f"Unavailable: Disk path {str(missing)!r} does not exist",
    )


def test_disk__path_under_a_file(run_check, tmp_path):
    """A path that cannot be a directory is Unavailable, naming the path and the system's reason."""
    (tmp_path / "afile").write_text("not a directory")
    path = tmp_path / "afile" / "sub"
    snapshot = run_check(Disk(path=path))
    assert (snapshot.status, snapshot.message) == (
        Status.ERROR,
        f"Unavailable: Disk path {str(path)!r}: Not a directory",
    )


# --------------------------------------------------------------------------- battery and temperature


@pytest.mark.skipif(psutil.sensors_battery() is not None, reason="this host has a battery")
def test_battery__absent_on_this_host(run_check):
    """A host without a battery is Unavailable with a message saying so, not "Unknown Error"."""
    snapshot = run_check(Battery())
    assert (snapshot.status, snapshot.message) == (
        Status.ERROR,
        "Unavailable: Battery information not available on this host (no battery found)",
    )


@pytest.mark.skipif(bool(psutil.sensors_temperatures()), reason="this host has temperature sensors")
def test_temperature__absent_on_this_host(run_check):
    """A host without temperature sensors is Unavailable with a message saying so, not "Unknown Error"."""
    snapshot = run_check(Temperature())
    assert (snapshot.status, snapshot.message) == (
        Status.ERROR,
        "Unavailable: Temperature information not available on this host (no sensors found)",
    )


# --------------------------------------------------------------------------- names and identity

HOST = socket.gethostname()
HIDDEN = datetime.timedelta(seconds=7)


@pytest.mark.parametrize(
    ("check", "expected"),
    [
        (CPU(max_usage_percent=50.0, interval=HIDDEN, poll_interval=HIDDEN), f"CPU(hostname={HOST!r})"),
        (
            Memory(min_gibibytes_available=1.0, max_memory_usage_percent=50.0, poll_interval=HIDDEN),
            f"Memory(hostname={HOST!r})",
        ),
        (Disk(path="/", max_disk_usage_percent=50.0, poll_interval=HIDDEN), f"Disk(path='/', hostname={HOST!r})"),
        (Battery(min_percent_available=50.0, power_plugged=True, poll_interval=HIDDEN), f"Battery(hostname={HOST!r})"),
        (
            Temperature(max_temperature_celsius=70.0, poll_interval=HIDDEN),
            f"Temperature(device='coretemp', hostname={HOST!r})",
        ),
    ],
    ids=["CPU", "Memory", "Disk", "Battery", "Temperature"],
)
def test_repr__hides_thresholds_and_intervals(check, expected):
    """repr() names the host (and path or device), never thresholds or intervals; labels show the same fields."""
    assert repr(check) == expected
    shown = {field.name: str(getattr(check, field.name)) for field in dataclasses.fields(check) if field.repr}
    assert check.labels == {"check": type(check).__name__, **shown}


def test_identity__thresholds_change_the_key():
    """Two CPU checks with equal repr but different thresholds are stored under different keys."""
    first, second = CPU(max_usage_percent=50.0), CPU(max_usage_percent=60.0)
    assert repr(first) == repr(second)
    assert CheckSpec.of(first).key != CheckSpec.of(second).key


def test_identity__same_key_in_another_process():
    """The same arguments give the same key in another interpreter (the poller writes, web workers read)."""
    code = (
        "import datetime, django; django.setup();"
        "from health_check.contrib.psutil import CPU; from health_check.endpoints import CheckSpec;"
        "print(CheckSpec.of(CPU(max_usage_percent=70.0, interval=datetime.timedelta(seconds=1))).key)"
    )
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.testapp.settings"}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=environment, cwd=REPO, timeout=60, check=True
    )
    here = CheckSpec.of(CPU(max_usage_percent=70.0, interval=datetime.timedelta(seconds=1))).key
    assert result.stdout.strip() == here
    assert here != CheckSpec.of(CPU(max_usage_percent=70.0)).key
