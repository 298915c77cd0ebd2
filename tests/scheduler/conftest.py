"""Process helpers for election and autostart tests: subprocesses that are always stopped, lock holders."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support import Process

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable


@pytest.fixture
def spawn(tmp_path) -> Iterator[Callable[..., Process]]:
    """Start subprocesses (full argv) from the repository root with the diskcache test settings; all
    stopped afterwards. The store directory is ``tmp_path / "store"``; keywords become environment variables.
    """
    children: list[Process] = []

    def start(*argv: str, **env: str) -> Process:
        environment = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "DJANGO_SETTINGS_MODULE": "tests.testapp.settings_diskcache",
            "HEALTH_SNAPSHOT_STORE_DIR": str(tmp_path / "store"),
            "HEALTH_SNAPSHOT_AUTOSTART": "0",
            **env,
        }
        environment.pop("PYTEST_CURRENT_TEST", None)
        child = Process(list(argv), env=environment, cwd=ROOT)
        children.append(child)
        return child

    yield start
    for child in children:
        child.stop()


def flock_holders(path: Path) -> set[int]:
    """Pids holding an ``flock`` on ``path``, from /proc/locks (the pid that placed each lock)."""
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return set()
    device = f"{os.major(stat.st_dev):02x}:{os.minor(stat.st_dev):02x}:{stat.st_ino}"
    holders = set()
    with open("/proc/locks") as locks:
        for line in locks:
            fields = line.split()
            if "->" in fields:
                continue  # a waiter, not a holder
            if len(fields) >= 6 and fields[1] == "FLOCK" and fields[5] == device:
                holders.add(int(fields[4]))
    return holders


def lock_file_pid(path: Path) -> int | None:
    """The pid the election winner wrote into the lock file, if any yet."""
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        return None
    return int(text) if text.isdigit() else None


def fds_open_on(path: Path, pid: int) -> list[str]:
    """Descriptors of process ``pid`` open on ``path`` (from /proc/<pid>/fd links)."""
    found = []
    directory = f"/proc/{pid}/fd"
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return found
    for name in names:
        try:
            if os.readlink(os.path.join(directory, name)) == os.path.realpath(path):
                found.append(name)
        except OSError:
            continue
    return found


def children_of(pid: int) -> set[int]:
    """Direct child pids of ``pid`` (Linux /proc)."""
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.add(int(entry))
    return found


needs_proc = pytest.mark.skipif(not os.path.exists("/proc/locks"), reason="needs Linux /proc/locks")
