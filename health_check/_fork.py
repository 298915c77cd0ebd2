"""Process-wide state a forked child must not inherit: one place to say so.

A gunicorn worker forked from a ``--preload`` master, or a child of ``multiprocessing``'s fork start
method, inherits copies of the parent's singletons (a store, its connections, held lock descriptors)
that belong to the parent. Each module that keeps such state registers how to drop it here.
"""

from __future__ import annotations

import os
from collections.abc import Callable

__all__ = ["reset_after_fork"]


def reset_after_fork(reset: Callable[[], None]) -> Callable[[], None]:
    """Run ``reset`` in every child forked after this call; returns ``reset`` (usable as a decorator).

    ``reset`` runs in the child only, before the fork returns there: it must not take locks another
    thread of the parent may have held at the fork (replace them instead), and must not close what
    the parent still uses (drop it).
    """
    if hasattr(os, "register_at_fork"):  # not on Windows
        os.register_at_fork(after_in_child=reset)
    return reset
