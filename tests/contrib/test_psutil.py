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
from health_check.snapshot import Status
from health_check.specs import CheckSpec

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY = 0.0001  # percent: any real measurement is above it
NNBSP = "\u202f"
AT_ONCE = datetime.timedelta(0)  # sustained=0: warn on a single window, as django-health-check did


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
    snapshot = run_check(CPU(max_usage_percent=TINY, sustained=AT_ONCE))
    assert snapshot.status is Status.WARNING
    assert re.fullmatch(rf"Warning: CPU \d+\.\d{NNBSP}%", snapshot.message), snapshot.message
    assert snapshot.message != f"Warning: CPU 0.0{NNBSP}%"


def test_cpu__later_runs_measure_since_previous_run(run_check, cpu_load):
    """Later runs measure the time since the previous run without blocking, and still see the load."""
    check = CPU(max_usage_percent=TINY, sustained=AT_ONCE)
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


@dataclasses.dataclass
class ReplayedCPU(CPU):
    """Replays one usage per run; each run's window is ``step`` long on a clock the test moves."""

    usages: list[float] = dataclasses.field(default_factory=list, repr=False, compare=False)
    step: datetime.timedelta = dataclasses.field(default=datetime.timedelta(seconds=5), repr=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        self.now = 1000.0  # time.monotonic() seconds

    def sample_window(self) -> tuple[float, float, float]:
        start = self.now
        self.now += self.step.total_seconds()
        return start, self.now, self.usages.pop(0)


def replay(run_check, check: ReplayedCPU, usages: list[float]) -> list[str]:
    """Run ``check`` once per usage (one 5 s poll window each); the reported messages, in order."""
    check.usages.extend(usages)
    return [run_check(check).message for _ in usages]


def sustained_warning(percent: str, lasted: str) -> str:
    return f"Warning: CPU usage {percent}{NNBSP}% for {lasted} (limit 80{NNBSP}%)"


def test_cpu__short_burst_never_warns(run_check):
    """With default settings a 10 s burst at 100 %, and even one of 115 s, reports OK on every run."""
    check = ReplayedCPU()
    assert replay(run_check, check, [20, 100, 100, 20]) == ["OK"] * 4
    assert replay(run_check, check, [100] * 23 + [20]) == ["OK"] * 24


def test_cpu__sustained_load_warns_after_2_min(run_check):
    """Usage at or above the limit in every window for 2 min warns, with the average, the time and the limit."""
    check = ReplayedCPU()
    messages = replay(run_check, check, [20] + [95, 99] * 12 + [100])
    assert messages[:24] == ["OK"] * 24
    assert messages[24:] == [sustained_warning("97.0", "2 min"), sustained_warning("97.1", "2 min")]
    assert replay(run_check, check, [80]) == [sustained_warning("96.5", "2 min")]  # at the limit is over it


def test_cpu__one_window_under_the_limit_restarts_the_count(run_check):
    """A window under the limit ends the stretch: 20 windows over, one under, 20 over never warns."""
    check = ReplayedCPU()
    assert replay(run_check, check, [99] * 20 + [79.9] + [99] * 20) == ["OK"] * 41
    assert replay(run_check, check, [99] * 4)[-1] == sustained_warning("99.0", "2 min")


def test_cpu__recovers_on_the_first_window_under_the_limit(run_check):
    """A warning clears on the next window under the limit, and a new stretch needs the full 2 min again."""
    check = ReplayedCPU()
    assert replay(run_check, check, [90] * 24)[-1] == sustained_warning("90.0", "2 min")
    assert replay(run_check, check, [50]) == ["OK"]
    assert replay(run_check, check, [90] * 23) == ["OK"] * 23
    assert replay(run_check, check, [90])[-1] == sustained_warning("90.0", "2 min")


def test_cpu__sustained_is_a_keyword(run_check):
    """sustained=timedelta(seconds=30) warns after 30 s; a 10 s burst still does not."""
    check = ReplayedCPU(sustained=datetime.timedelta(seconds=30))
    assert replay(run_check, check, [100, 100, 10]) == ["OK"] * 3
    assert replay(run_check, check, [85] * 6) == ["OK"] * 5 + [sustained_warning("85.0", "30 s")]


@pytest.mark.parametrize("sustained", [AT_ONCE, None], ids=["zero", "None"])
def test_cpu__sustained_zero_warns_on_one_window(run_check, sustained):
    """sustained=timedelta(0) or None is django-health-check's rule: one window over the limit warns, same message."""
    check = ReplayedCPU(sustained=sustained)
    assert replay(run_check, check, [20, 97.25, 20]) == ["OK", f"Warning: CPU 97.2{NNBSP}%", "OK"]


@pytest.mark.parametrize("value", [120, -datetime.timedelta(seconds=1), "2 min"], ids=["number", "negative", "text"])
def test_cpu__invalid_sustained_is_rejected(value):
    """A sustained window that is not a timedelta of 0 or more is a ValueError naming the argument."""
    with pytest.raises(ValueError) as raised:
        CPU(sustained=value)
    assert str(raised.value) == (
        f"CPU sustained is {value!r}, expected a datetime.timedelta of 0 or more "
        "(e.g. sustained=timedelta(minutes=2)), or None to warn on a single window"
    )


def test_cpu__default_sustained_keeps_the_key():
    """The default window leaves the store key as it was before the argument existed; another value moves it."""
    two_minutes = CheckSpec.of(CPU(sustained=datetime.timedelta(minutes=2))).key
    assert CheckSpec.of(CPU()).key == two_minutes
    assert CheckSpec.of(CPU(sustained=AT_ONCE)).key != two_minutes


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


def test_battery__power_unplugged_is_a_warning(run_check, monkeypatch):
    """power_plugged=True on a laptop running on its battery warns "Power unplugged with battery at 80.0 %".

    This host has no battery: psutil's reading is replaced by the one a laptop on battery gives.
    """
    import collections

    sbattery = collections.namedtuple("sbattery", "percent secsleft power_plugged")  # psutil's fields
    reading = sbattery(percent=80.0, secsleft=3600, power_plugged=False)
    monkeypatch.setattr(psutil, "sensors_battery", lambda: reading)
    snapshot = run_check(Battery(power_plugged=True))
    assert (snapshot.status, snapshot.message) == (
        Status.WARNING,
        "Warning: Power unplugged with battery at 80.0\u202f%",
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
        "from health_check.contrib.psutil import CPU; from health_check.specs import CheckSpec;"
        "print(CheckSpec.of(CPU(max_usage_percent=70.0, interval=datetime.timedelta(seconds=1))).key)"
    )
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.testapp.settings"}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=environment, cwd=REPO, timeout=60, check=True
    )
    here = CheckSpec.of(CPU(max_usage_percent=70.0, interval=datetime.timedelta(seconds=1))).key
    assert result.stdout.strip() == here
    assert here != CheckSpec.of(CPU(max_usage_percent=70.0)).key
