"""Running the poller inside web server processes: when to start it, and once per host.

Started eagerly when the process is a known web server (gunicorn, uvicorn, ``runserver``'s serving
child...), lazily on the first request otherwise, and never in management commands, test runs or
workers that serve no requests. Every candidate joins the election; one process per host polls.

Forks are handled: no poller thread ever runs in a process that forks workers. With ``gunicorn
--preload`` (or uWSGI without ``lazy-apps``) the master imports the project but starts nothing; each
worker joins the election right after it is forked. A thread running in the master at fork time
could hold a lock (a module's import lock, SQLite's mutexes) that the worker then waits on forever.
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
import threading
from collections.abc import Callable, Sequence
from types import FrameType
from typing import Any

from django.core.signals import request_started

from health_check._fork import reset_after_fork
from health_check._indexer import write_endpoint_index
from health_check._urls import describe_error
from health_check.conf import get_config, seconds
from health_check.specs import CheckSpec, EntryError, resolve_entries
from health_check.store import StoreError, get_store
from health_check.urlconf import Endpoint, iter_endpoints

__all__ = [
    "BackgroundPoller",
    "build_election",
    "collect_checks",
    "install",
    "start_background_poller",
    "stop_background_poller",
]

logger = logging.getLogger(__name__)

ELECTION_LOCK = "poller"
FLEET_ELECTION_LOCK = "poller-fleet"
_SERVERS = frozenset({"gunicorn", "uvicorn", "daphne", "hypercorn", "granian", "uwsgi", "waitress-serve"})
_MANAGE = frozenset({"manage.py", "django-admin", "django-admin.py", "django"})

_election: Any = None
_guard = threading.Lock()
_wanted = False  # whether this process (or the parent it was forked from) started a poller
_start_in_children = False  # this process is a pre-forking master: its workers start at once


def collect_checks(
    urlconf: str | None = None, *, host: str | None = None, endpoints: dict[str, set[str]] | None = None
) -> tuple[list[CheckSpec], list[tuple[Endpoint, EntryError]]]:
    """Every check of every ``HealthCheckView`` in the URLconf, unique by key, and the bad entries.

    ``host``: the ``host_id`` of a store shared by hosts, which qualifies host-scoped keys.
    ``endpoints``, when given, is filled with each named endpoint's URL names (``"health"`` and, in a
    namespace, ``"api:health"``) -> its check keys: what a silence may name.
    """
    specs: dict[str, CheckSpec] = {}
    errors: list[tuple[Endpoint, EntryError]] = []
    for endpoint in iter_endpoints(urlconf):
        # Resolved here, not through the view's own cache: the view's lock must never be held by a
        # poller thread when a server forks (a child would inherit it locked).
        found, bad = resolve_entries(endpoint.view.view.checks, host=host)
        for spec in found:
            specs.setdefault(spec.key, spec)
        if endpoints is not None:
            for url_name in {endpoint.name, endpoint.qualified_name} - {None, ""}:
                endpoints.setdefault(str(url_name), set()).update(spec.key for spec in found)
        errors += [(endpoint, error) for error in bad]
    return list(specs.values()), errors


def build_election(scopes: Sequence[str] | None = None) -> Any:
    """The election(s) whose winners poll the checks of the URLconf.

    With a single-host store (diskcache, memory), one election: its winner polls every check. With a
    store shared by hosts (Redis), two: one per host (a file lock) for the host-scoped checks, and one
    for the fleet (a Redis lease) for the fleet-scoped checks. ``scopes`` (default
    ``HEALTH_CHECK["POLLER_SCOPES"]``) limits which of the two this process campaigns for.
    """
    # Imported here, not at the top: APScheduler is only needed by a process that polls, and every
    # management command (``health_check --no-http`` in a container probe) would pay for it.
    from health_check._folding import dependency_graph
    from health_check._maintenance_source import MaintenanceSource
    from health_check.recorder import SnapshotRecorder
    from scheduler import CheckRunner, Election, Poller
    from scheduler.election import Elections

    config = get_config()
    store = get_store()
    wanted = tuple(config["POLLER_SCOPES"] if scopes is None else scopes)

    def poller_factory(scope: str | None, gate: Callable[[], bool] | None = None) -> Callable[[], Poller]:
        def make_poller() -> Poller:
            endpoints: dict[str, set[str]] = {}
            specs, errors = collect_checks(host=store.host_id, endpoints=endpoints)
            if scope != "fleet":  # logged by one of the two pollers of a host, not both
                for endpoint, error in errors:
                    logger.error("Health check endpoint %s: entry %s: %s", endpoint.label, error.entry, error.message)
            # What --no-http reads instead of the URLconf; rewritten only when the endpoints changed.
            write_endpoint_index(store)
            graph = dependency_graph(specs, endpoints, log=scope != "fleet")  # every check: they may cross scopes
            specs = [spec for spec in specs if scope is None or spec.scope == scope]
            recorder = SnapshotRecorder(
                store,
                maintenance=MaintenanceSource(store, endpoints),
                dependencies=graph,
                watching=any(getattr(spec.check, "watched_keys", None) for spec in specs),
            )
            runner = CheckRunner(recorder.record, max_stuck_runs=int(config["MAX_STUCK_RUNS"]))
            return Poller(
                specs,
                runner,
                jitter=float(config["POLL_JITTER"]),
                threads=int(config["POLLER_THREADS"]),
                gate=gate,
                rerun=recorder.rerun,
                settle=recorder.settle,
            )

        return make_poller

    retry = seconds(config["ELECTION_RETRY"])
    if store.host_id is None:
        return Election(store.lock(ELECTION_LOCK), poller_factory(None), retry=retry, describe=_describe)
    elections = []
    if "host" in wanted:
        host_lock = store.host_lock(ELECTION_LOCK)
        elections.append(Election(host_lock, poller_factory("host"), retry=retry, describe=_describe))
    if "fleet" in wanted:
        lease = store.lock(FLEET_ELECTION_LOCK)
        elections.append(
            Election(lease, poller_factory("fleet", gate=lambda: lease.held), retry=retry, describe=_describe)
        )
    return Elections(elections)


def _describe(error: BaseException) -> str:
    """A store's own message (it names the store, never a credential); anything else in one scrubbed line."""
    return str(error) if isinstance(error, StoreError) else describe_error(error)


class BackgroundPoller:
    """The poller of this process: waits for the store, then campaigns in ``build_election(scopes)``.

    A store that cannot be built (a wrong ``HEALTH_CHECK["STORE"]``, a directory that cannot be
    written) must not stop the web process from serving: the failure is logged once per distinct
    message and retried with backoff (up to ``MAX_BACKOFF_SECONDS`` apart), so a fixed store is picked
    up without a restart. Meanwhile every endpoint answers 500 naming the setting.

    Args:
        scopes: As ``build_election``; ``None`` for ``HEALTH_CHECK["POLLER_SCOPES"]``.
    """

    def __init__(self, scopes: Sequence[str] | None = None) -> None:
        self.scopes = scopes
        self.election: Any = None
        self._stop = threading.Event()
        self._guard = threading.Lock()
        self._thread: threading.Thread | None = None

    @property
    def leading(self) -> bool:
        """Whether this process polls anything now."""
        election = self.election
        return election is not None and bool(election.leading)

    def start(self) -> None:
        """Campaign in a daemon thread; returns at once."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._wait_for_store, name="health-check-store", daemon=True)
            self._thread.start()

    def _wait_for_store(self) -> None:
        from scheduler.election import MAX_BACKOFF_SECONDS

        last_error: str | None = None
        pause = seconds(get_config()["ELECTION_RETRY"])
        while not self._stop.is_set():
            try:
                election = build_election(self.scopes)
            except StoreError as error:
                if str(error) != last_error:
                    logger.error("The health check poller cannot open the snapshot store: %s Retrying.", error)
                    last_error = str(error)
                self._stop.wait(pause)
                pause = min(pause * 2, MAX_BACKOFF_SECONDS)
                continue
            with self._guard:
                if self._stop.is_set():
                    return
                if last_error is not None:
                    logger.info("The health check poller opened the snapshot store")
                self.election = election
                election.start()
            return

    def stop(self) -> None:
        """Stop polling and give the lock up (idempotent)."""
        with self._guard:
            self._stop.set()
            election, self.election = self.election, None
        if election is not None:
            election.stop()


def start_background_poller() -> BackgroundPoller:
    """Join the election in a background thread (idempotent); returns this process's poller."""
    global _election, _wanted
    with _guard:
        if _election is None:
            _wanted = True
            _election = BackgroundPoller()
            _election.start()
        return _election


def stop_background_poller() -> None:
    """Stop polling and release the lock (process exit, tests)."""
    global _election
    with _guard:
        election, _election = _election, None
    if election is not None:
        election.stop()


def _program() -> str:
    """The program's name, the same for ``gunicorn ...`` and ``python -m gunicorn ...``."""
    path = sys.argv[0] if sys.argv else ""
    name = os.path.basename(path)
    return os.path.basename(os.path.dirname(path)) if name == "__main__.py" else name


def _command() -> str | None:
    """The management command this process runs, or None when it is not ``manage.py``/``django-admin``."""
    if _program() not in _MANAGE:
        return None
    return sys.argv[1] if len(sys.argv) > 1 else ""


def _in_test_run() -> bool:
    from django.core import mail

    return hasattr(mail, "outbox") or "pytest" in sys.modules


def _is_web_server() -> bool:
    command = _command()
    if command is not None:
        # runserver's autoreloader parent only watches files; the child it spawns serves.
        return command == "runserver" and (os.environ.get("RUN_MAIN") == "true" or "--noreload" in sys.argv)
    return _program() in _SERVERS


def _loaded_by_forking_master() -> bool:
    """Whether the master of a pre-forking server is loading the project, to fork its workers from it."""
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        # gunicorn --preload: the arbiter loads the application before spawning workers. A worker
        # without --preload loads it in Worker.init_process(), under the arbiter frames it was forked in.
        filename = frame.f_code.co_filename
        if os.path.join("gunicorn", "workers", "") in filename:
            return False
        if filename.endswith(os.path.join("gunicorn", "arbiter.py")):
            return True
        frame = frame.f_back
    uwsgi = sys.modules.get("uwsgi")
    # uWSGI loads the application in the master (worker 0) unless lazy-apps is on.
    return uwsgi is not None and getattr(uwsgi, "worker_id", lambda: -1)() == 0


def _allowed() -> bool:
    if not get_config()["POLLER_AUTOSTART"] or _in_test_run():
        return False
    command = _command()
    return command is None or command == "runserver"


def _on_first_request(**kwargs: Any) -> None:
    request_started.disconnect(_on_first_request)
    if _allowed():
        start_background_poller()


@reset_after_fork
def _after_fork_in_child() -> None:
    global _election, _guard, _start_in_children
    _election = None
    _guard = threading.Lock()
    if _start_in_children:
        # A worker of a pre-forking master: it serves requests, so it campaigns right away.
        _start_in_children = False
        try:
            start_background_poller()
        except Exception as error:  # noqa: BLE001 - a worker must serve whatever happens to its poller
            logger.error("The health check poller could not start in worker %d: %s", os.getpid(), error)
    elif _wanted:
        request_started.connect(_on_first_request)


def install() -> None:
    """Called from ``AppConfig.ready()``: start now in a web server, else on the first request."""
    global _start_in_children
    if not _allowed():
        return
    if _is_web_server():
        if _loaded_by_forking_master():
            _start_in_children = True  # see the module docstring: no threads in a process that forks
        else:
            start_background_poller()
    else:
        request_started.connect(_on_first_request)


atexit.register(stop_background_poller)
