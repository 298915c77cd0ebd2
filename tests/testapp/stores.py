"""Store classes for the settings tests: one that raises something unexpected while it is built."""

from __future__ import annotations

from health_check.store.memory import MemoryStore


class Explodes(MemoryStore):
    """A custom store whose constructor fails with a message holding a password, as a client's might."""

    def __init__(self, location: str) -> None:
        raise KeyError("could not connect to redis://admin:s3cret-Pa55@10.0.0.1:6379/0")


class Located(MemoryStore):
    """A working custom store built with the location, as ``HEALTH_CHECK["STORE"]`` builds them."""

    def __init__(self, location: str) -> None:
        super().__init__()
        self.location = location
