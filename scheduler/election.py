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

from health_check.store.base import ElectionLock, StoreError
from scheduler.poller import Poller

__all__ = ["Election", "Elections"]

logger = logging.getLogger(__name__)


class Election:
    """Campaign for ``lock`` in a background thread; run the poller ``make_poller`` builds while leading.

    Args:
        lock: The election lock (from the store).
        make_poller: Builds the poller; called once, when this process first wins.
        retry: Seconds between attempts while another process leads.
    """

    def __init__(self, lock: ElectionLock, make_poller: Callable[[], Poller], *, retry: float = 1.0) -> None:
        self.lock = lock
        self.make_poller = make_poller
        self.retry = retry
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
        """Try the lock until it is won or ``stop()`` is called, then lead until stopped (blocking)."""
        last_error = None
        while not self._stop.is_set():
            try:
                won = self.lock.acquire()
                last_error = None
            except Exception as error:  # noqa: BLE001 - the election thread must outlive any failure
                text = str(error) if isinstance(error, StoreError) else f"{type(error).__name__}: {error}"
                if text != last_error:  # once per distinct failure, not once per retry
                    if isinstance(error, StoreError):
                        logger.warning("Health check poller election: %s", text)
                    else:
                        logger.exception("Health check poller election failed unexpectedly; retrying")
                    last_error = text
                won = self.lock.held  # a lease stays held until it may have expired
            if not won and self.poller is not None:
                logger.warning("This process (pid %d) no longer holds the poller lock; its poller stops", os.getpid())
                self.poller.shutdown()
                self.poller = None
            if won and self.poller is None:
                logger.info("This process (pid %d) leads the health check poller", os.getpid())
                try:
                    self.poller = self.make_poller()
                    self.poller.start()
                except Exception:
                    logger.exception("The health check poller could not start; retrying")
                    self.poller = None
                    self.lock.release()
            renew = self.lock.renew_interval
            self._stop.wait(min(self.retry, renew) if renew and self.poller is not None else self.retry)

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
