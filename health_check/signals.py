"""The ``transition`` signal: sent once per journal entry, in the process that polls.

Connect a receiver to post changes somewhere (a chat webhook, a pager). It runs in a poller thread,
after the snapshot and the entry were stored; whatever it raises is logged and never stops the poller
(``send_robust``). Keep it short and bounded in time: it delays the check's next run.

Arguments: ``sender`` is the check's class, ``transition`` a ``health_check.journal.Transition``,
``check`` the check instance.
"""

from __future__ import annotations

from django.dispatch import Signal

__all__ = ["transition"]

transition = Signal()
