"""Election locks on files: ``flock``, so the kernel releases a lock the moment its holder dies.

The diskcache store elects its poller with one; a store shared by hosts (Redis) elects each host's
poller of host-scoped checks with one, so those keep running when the server does not answer.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import weakref

from health_check._fork import reset_after_fork
from health_check.store.base import ElectionLock, StoreError

__all__ = ["FileElectionLock", "host_lock"]

logger = logging.getLogger(__name__)


# Locks this process holds. A forked child must close its copies of their descriptors at once: the
# lock lives as long as any process has the file description open, so a gunicorn worker forked from
# a --preload master would otherwise keep the master's lock alive after the master died.
_held: weakref.WeakSet[FileElectionLock] = weakref.WeakSet()


class FileElectionLock(ElectionLock):
    """An exclusive ``flock`` on ``path``, tried without waiting."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd: int | None = None
        self._pid = os.getpid()

    def acquire(self) -> bool:
        self._forget_if_forked()
        if self._fd is not None:
            return True
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as error:
            raise StoreError(f"cannot open election lock file {self.path}: {error.strerror}") from error
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        except OSError as error:
            # Not contention: e.g. ENOLCK on a network filesystem, where no process would ever win.
            os.close(fd)
            raise StoreError(
                f"cannot lock election lock file {self.path}: {error.strerror}; "
                'put HEALTH_CHECK["STORE_LOCATION"] on a local filesystem'
            ) from error
        self._fd = fd  # held from here: an error below must not leave the flock on an unknown descriptor
        try:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        except OSError as error:  # the pid line only tells people who holds the lock (e.g. a full disk)
            logger.warning("Cannot write the holder's pid to election lock file %s: %s", self.path, error.strerror)
        _held.add(self)
        return True

    def release(self) -> None:
        self._forget_if_forked()
        if self._fd is not None:
            fd, self._fd = self._fd, None
            _held.discard(self)
            try:
                fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)

    @property
    def held(self) -> bool:
        self._forget_if_forked()
        return self._fd is not None

    def _forget_if_forked(self) -> None:
        # A forked child shares the parent's open file description: unlocking it would release the
        # parent's lock, so the child only closes its copy of the descriptor.
        if self._pid != os.getpid():
            if self._fd is not None:
                os.close(self._fd)
            self._fd = None
            self._pid = os.getpid()


@reset_after_fork
def _drop_inherited_locks() -> None:
    for lock in list(_held):
        lock._forget_if_forked()
    _held.clear()


def host_lock(location: str | None, name: str, host_id: str | None, description: str) -> FileElectionLock:
    """The lock ``name`` of this host's pollers, in ``location`` (``STORE_LOCATION``); raises ``StoreError``."""
    if not location:
        raise StoreError(f'the {description} needs HEALTH_CHECK["STORE_LOCATION"] for its host lock')
    try:
        os.makedirs(location, mode=0o700, exist_ok=True)
    except OSError as error:
        raise StoreError(
            f"cannot create {location} for the host election lock: {error.strerror}. "
            'Set HEALTH_CHECK["STORE_LOCATION"] to a directory every web and poller process of the host can write.'
        ) from error
    return FileElectionLock(os.path.join(location, f"{name}@{safe_name(host_id)}.lock"))


def safe_name(host_id: str | None) -> str:
    """``host_id`` as a file name part: what is not a letter, digit, ``.``, ``_`` or ``-`` becomes ``_``."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", host_id or "host")
