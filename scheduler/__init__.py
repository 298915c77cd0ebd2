"""When to check: the background poller. It knows nothing of views; it gets checks, intervals and a store."""

from scheduler.election import Election
from scheduler.jobs import CheckRunner
from scheduler.poller import Poller

__all__ = ["CheckRunner", "Election", "Poller"]
