"""The fleet poller's election lock on Redis: a lease that expires unless its holder renews it."""

from __future__ import annotations

import logging
import os
import time
import uuid

import redis

from health_check.store._redis_scripts import RELEASE, RENEW, describe
from health_check.store.base import ElectionLock, StoreError

__all__ = ["RedisLease"]

logger = logging.getLogger("health_check.store.redis")  # the logger these lines always had


class RedisLease(ElectionLock):
    """A lease on one Redis key: ``SET NX PX`` to take it, a compare-and-set script to renew it.

    ``held`` turns ``False`` by itself once the lease may have expired without a renewal (Redis
    unreachable), measured from before the request that set or renewed it, so the holder stops
    before anybody else can have taken over.

    Args:
        client: The Redis client.
        name: The Redis key.
        lease_seconds: How long the lease lasts without renewal.
        owner: Who takes it (the host id), readable in the key's value.
        description: The store's description, for messages.
    """

    def __init__(self, client: redis.Redis, name: str, lease_seconds: float, *, owner: str, description: str) -> None:
        self.client = client
        self.name = name
        self.owner = owner
        self.description = description
        self._renew = client.register_script(RENEW)
        self._release = client.register_script(RELEASE)
        self.lease_seconds = lease_seconds
        self.renew_interval = lease_seconds / 3
        self._token: str | None = None
        self._valid_until = 0.0
        self._pid = os.getpid()

    def acquire(self) -> bool:
        self._forget_if_forked()
        client = self.client
        started = time.monotonic()
        milliseconds = max(1, int(self.lease_seconds * 1000))
        try:
            if self._token is not None and started < self._valid_until:
                if self._renew(keys=[self.name], args=[self._token, milliseconds], client=client):
                    self._valid_until = started + self.lease_seconds
                    return True
                logger.warning("The fleet poller lease %s was taken over by another host", self.name)
                self._token = None
                return False
            # Who holds it, readable with redis-cli GET: host, pid, then a nonce only this holder knows.
            token = f"{self.owner}/{os.getpid()}/{uuid.uuid4().hex}"
            if client.set(self.name, token, nx=True, px=milliseconds):
                self._token, self._valid_until = token, started + self.lease_seconds
                return True
            self._token = None
            return False
        except redis.RedisError as error:
            raise StoreError(f"cannot reach the {self.description} for lease {self.name}: {describe(error)}") from error

    def release(self) -> None:
        self._forget_if_forked()
        token, self._token = self._token, None
        if token is not None:
            try:
                self._release(keys=[self.name], args=[token], client=self.client)
            except redis.RedisError as error:
                logger.warning("Cannot release lease %s in the %s: %s", self.name, self.description, describe(error))

    @property
    def held(self) -> bool:
        self._forget_if_forked()
        return self._token is not None and time.monotonic() < self._valid_until

    def _forget_if_forked(self) -> None:
        if self._pid != os.getpid():  # a forked child never inherits its parent's lease
            self._token, self._pid = None, os.getpid()
