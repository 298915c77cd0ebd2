"""One active poller per host (file lock) or per fleet (a store-provided lock).

Every candidate process tries the lock every ``retry`` seconds; the one that gets it starts its poller
and keeps the lock until it stops or dies. The kernel drops a dead holder's ``flock`` at once, so a
survivor takes over within one retry period. A lease (Redis) is renewed by its holder every
``renew_interval``; a holder that cannot renew it, or finds it taken, stops its poller at once.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from typing import Protocol

from health_check._urls import describe_error
from scheduler.poller import Poller

__all__ = ["MAX_BACKOFF_SECONDS", "Election", "ElectionLock", "Elections"]


class ElectionLock(Protocol):
    """What an election needs of its lock; the stores provide them (``Store.lock()``, ``host_lock()``).

    ``acquire()`` is non-blocking: ``True`` when this process holds the lock now (renewing it when
    it already did); it may raise, and the election retries. ``renew_interval`` is ``None`` for a
    lock held until released (a file lock), else how often a lease must be renewed.
    """

    renew_interval: float | None

    @property
    def held(self) -> bool: ...

    def acquire(self) -> bool: ...

    def release(self) -> None: ...


logger = logging.getLogger(__name__)

#: Longest pause between two attempts after failures (seconds): how late a store that came back is noticed.
MAX_BACKOFF_SECONDS = 5.0


class Election:
    """Campaign for ``lock`` in a background thread; run the poller ``make_poller`` builds while leading.

    Args:
        lock: The election lock (from the store).
        make_poller: Builds the poller; called once, when this process first wins.
        retry: Seconds between attempts while another process leads.
        describe: The one log line for a failure of the lock or of ``make_poller`` (never a traceback);
            by default the exception's type, scrubbed first line and origin.
    """

    def __init__(
        self,
        lock: ElectionLock,
        make_poller: Callable[[], Poller],
        *,
        retry: float = 1.0,
        describe: Callable[[BaseException], str] = describe_error,
    ) -> None:
        self.lock = lock
        self.make_poller = make_poller
        self.describe = describe
        self.retry = max(0.05, retry)  # never a busy loop, whatever the caller passes
        self.poller: Poller | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def leading(self) -> bool:
        return self.poller is not None and self.poller.running

    def start(self) -> None:
        """Campaign in a daemon thread; returns at once."""
        if self._thread is None:
            self._thread = threading.Thread(target=self.campaign, name="health-check-election", daemon=True)
            self._thread.start()

    def campaign(self) -> None:
        """Try the lock until it is won or ``stop()`` is called, then lead until stopped (blocking).

        A failing lock (a store that is down) or poller is logged once per distinct failure and
        retried with backoff, up to ``MAX_BACKOFF_SECONDS`` apart, so a store that comes back is
        picked up within seconds and a store that stays down costs a few attempts a minute.
        """
        last_error: str | None = None  # of the lock
        poller_error: str | None = None
        failures = poller_failures = 0  # in a row: they set the backoff
        while not self._stop.is_set():
            try:
                won = self.lock.acquire()
            except Exception as error:  # noqa: BLE001 - the election thread must outlive any failure
                failures += 1
                text = self.describe(error)
                if text != last_error:  # once per distinct failure, not once per retry
                    logger.warning("Health check poller election: %s; retrying", text)
                    last_error = text
                won = self.lock.held  # a lease stays held until it may have expired
            else:
                if last_error is not None:
                    logger.info("Health check poller election: the store answers again")
                    last_error = None
                failures = 0
            if not won and self.poller is not None:
                logger.warning("This process (pid %d) no longer holds the poller lock; its poller stops", os.getpid())
                self.poller.shutdown()
                self.poller = None
            if won and self.poller is None:
                logger.info("This process (pid %d) leads the health check poller", os.getpid())
                try:
                    self.poller = self.make_poller()
                    self.poller.start()
                    poller_error, poller_failures = None, 0
                except Exception as error:  # noqa: BLE001 - as above
                    poller_failures += 1
                    text = self.describe(error)
                    if text != poller_error:
                        logger.error("The health check poller could not start: %s; retrying", text)
                        poller_error = text
                    self.poller = None
                    self.lock.release()
            renew = self.lock.renew_interval
            if failures or poller_failures:
                in_a_row = max(failures, poller_failures)
                pause = min(self.retry * 2 ** min(in_a_row - 1, 16), max(self.retry, MAX_BACKOFF_SECONDS))
            else:
                pause = min(self.retry, renew) if renew and self.poller is not None else self.retry
            self._stop.wait(pause)

    def stop(self) -> None:
        """Stop the poller and give the lock up, so another process takes over at once."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            # The campaign may be inside acquire() or make_poller(): let it finish first, or it
            # could take the lock (or start a poller) again after we released it.
            thread.join(timeout=10)
        if self.poller is not None:
            self.poller.shutdown()
            self.poller = None
        self.lock.release()


class Elections:
    """Several elections run as one: with a store shared by hosts, one for the host's checks and one
    for the fleet's. Same interface as ``Election``.
    """

    def __init__(self, elections: list[Election]) -> None:
        self.elections = elections

    @property
    def leading(self) -> bool:
        """Whether this process polls anything."""
        return any(election.leading for election in self.elections)

    def start(self) -> None:
        for election in self.elections:
            election.start()

    def stop(self) -> None:
        for election in self.elections:
            election.stop()
