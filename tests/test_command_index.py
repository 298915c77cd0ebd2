"""``health_check <name> --no-http`` answers from the poller's endpoint index, exactly as from the URLconf.

A throw-away project in ``tmp_path`` (``idxsite``) whose URLconf appends a line to a marker file
each time it is imported: every answer is asked twice, without an index (the URLconf is imported)
and with one (it is not), and the two must be the same text and exit code, for healthy, failing,
stale, pending, warning and misconfigured endpoints. Snapshots are written by the test itself.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from health_check._drain import Drain, drain_key, drain_snapshot
from health_check.specs import CheckSpec
from health_check.store.diskcache import DiskcacheStore
from tests.conftest import make_snapshot
from tests.testapp.probes import Sample

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
PENDING = "Unavailable: pending, no result yet (is the health check poller running?)"
DAYS = 86400.0

SETTINGS = """
import os

SECRET_KEY = "index-tests"
USE_TZ = True
INSTALLED_APPS = ["health_check"]
ROOT_URLCONF = "idxsite.urls"
DATABASES = {}
# A setting a deploy may change; values that print differently per process (a set's order, an object).
FLAVOR = os.environ.get("IDX_FLAVOR", "plain")
TAGS = {"alpha", "beta", "gamma", "delta", "epsilon"}
SENTINEL = object()
HEALTH_CHECK = {
    "STORE": os.environ.get("IDX_STORE", "diskcache"),
    "STORE_LOCATION": os.environ["HEALTH_SNAPSHOT_STORE_DIR"],
    "POLLER_AUTOSTART": False,
    "HOST_ID": "host-a",
}
"""

URLS = """
import os

from django.http import HttpResponse
from django.urls import include, path

from health_check.views import HealthCheckView

with open(os.environ["IDX_URLCONF_MARKER"], "a") as marker:
    marker.write("imported\\n")


def sample(label):
    return ("tests.testapp.probes.Sample", {"label": label})


urlpatterns = [
    path("bare/", lambda request: HttpResponse("ok"), name="bare"),
    path("healthy/", HealthCheckView.as_view(checks=HEALTHY), name="healthy"),
    path("failing/", HealthCheckView.as_view(checks=[sample("up"), sample("down")]), name="failing"),
    path("stale/", HealthCheckView.as_view(checks=[sample("old")]), name="stale"),
    path("pending/", HealthCheckView.as_view(checks=[sample("never")]), name="pending"),
    path("warning/", HealthCheckView.as_view(checks=[sample("degraded")]), name="warning"),
    path(
        "lenient/",
        HealthCheckView.as_view(checks=[sample("degraded")], warnings_as_errors=False),
        name="lenient",
    ),
    path(
        "broken/",
        HealthCheckView.as_view(checks=[sample("up"), "tests.testapp.probes.Nope", "tests.testapp.probes.Sample"]),
        name="broken",
    ),
    path("ready/", HealthCheckView.as_view(checks=[sample("up")], readiness=True), name="ready"),
    path("disk/", HealthCheckView.as_view(checks=["health_check.contrib.psutil.Disk"]), name="disk"),
    path("api/", include(([path("health/", HealthCheckView.as_view(checks=[sample("up")]), name="health")], "api"))),
]
"""

#: The drain mark ``fill()`` writes: this host drains for the whole module (readiness endpoints only).
DRAIN = Drain(started=time.time(), until=time.time() + 3600)

#: What each endpoint answers from the snapshots ``fill()`` writes: (exit code, stdout).
EXPECTED = {
    "healthy": (0, "Sample(label='up'): OK\n"),
    "failing": (1, "Sample(label='up'): OK\nSample(label='down'): Unavailable: down\n"),
    "stale": (
        1,
        "Sample(label='old'): Unavailable: stale, last result is 3 d old (allowed 3 h); is the poller running?\n",
    ),
    "pending": (1, f"Sample(label='never'): {PENDING}\n"),
    "warning": (1, "Sample(label='degraded'): Warning: degraded\n"),
    "lenient": (0, "Sample(label='degraded'): Warning: degraded\n"),
    "api:health": (0, "Sample(label='up'): OK\n"),
    "ready": (1, f"Sample(label='up'): OK\nDrain: {DRAIN.message}\n"),
}

#: Each case's command line after ``health_check``, and its answer when the test states it.
CASES: dict[str, tuple[list[str], tuple[int, str] | None]] = {
    **{name: ([name], expected) for name, expected in EXPECTED.items()},
    "broken": (["broken"], None),
    "subset": (["failing", "--check", "Sample(label='up')"], (0, "Sample(label='up'): OK\n")),
    "subset-exclude": (
        ["failing", "--exclude", "Sample(label='up')"],
        (1, "Sample(label='down'): Unavailable: down\n"),
    ),
    "subset-unknown": (["failing", "--check", "Nope"], (2, "")),
    "subset-ready": (["ready", "--exclude", "Sample"], None),
}


@dataclasses.dataclass(frozen=True)
class Answer:
    code: int
    stdout: str
    stderr: str
    imported: bool  # whether the URLconf was imported
    seconds: float


@dataclasses.dataclass
class Site:
    """The throw-away project: its package directory, store directory and URLconf marker."""

    root: Path
    store_dir: Path
    marker: Path

    def env(self, **extra: str) -> dict[str, str]:
        return {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "idxsite.settings",
            "PYTHONPATH": os.pathsep.join([str(self.root), str(ROOT)]),
            "HEALTH_SNAPSHOT_STORE_DIR": str(self.store_dir),
            "IDX_URLCONF_MARKER": str(self.marker),
            **extra,
        }

    def ask(self, endpoint: str, *args: str, cwd: Path | None = None, **env: str) -> Answer:
        """``python -m django health_check <endpoint> --no-http`` as a container probe runs it (from the site's root)."""
        self.marker.unlink(missing_ok=True)
        started = time.monotonic()
        result = subprocess.run(
            [sys.executable, "-m", "django", "health_check", endpoint, "--no-http", *args],
            cwd=cwd or self.root,
            env=self.env(**env),
            capture_output=True,
            text=True,
            timeout=120,
        )
        took = time.monotonic() - started
        return Answer(result.returncode, result.stdout, result.stderr, self.marker.exists(), took)

    def write_index(self, **env: str) -> None:
        """What the poller does when it starts: write this host's endpoint index."""
        script = (
            "import django; django.setup()\n"
            "from health_check._indexer import write_endpoint_index\n"
            "from health_check.store import get_store\n"
            "assert write_endpoint_index(get_store())\n"
        )
        result = subprocess.run(
            [sys.executable, "-c", script], cwd=self.root, env=self.env(**env), capture_output=True, text=True
        )
        assert result.returncode == 0, result.stderr

    def set_urls(self, healthy: str) -> None:
        """Write the URLconf with the ``healthy`` endpoint's checks (a deploy changes them)."""
        urls = self.root / "idxsite" / "urls.py"
        urls.write_text(f"HEALTHY = {healthy}\n" + textwrap.dedent(URLS))


def make_site(root: Path) -> Site:
    package = root / "idxsite"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "settings.py").write_text(textwrap.dedent(SETTINGS))
    site = Site(root=root, store_dir=root / "store", marker=root / "urlconf-imported")
    site.set_urls('[("tests.testapp.probes.Sample", {"label": "up"})]')
    return site


def key(label: str, host: str | None = None) -> str:
    return CheckSpec.of(Sample(label=label), host).key


def fill(store) -> None:
    """The snapshots every scenario reads; one-hour intervals keep the fresh ones fresh for the whole module."""
    hour = {"interval_seconds": 3600.0}
    store.write(make_snapshot(key("up", store.host_id), **hour))
    store.write(make_snapshot(key("down", store.host_id), status="error", **hour))
    store.write(make_snapshot(key("old", store.host_id), age_seconds=3 * DAYS, **hour))
    store.write(make_snapshot(key("degraded", store.host_id), status="warning", **hour))
    store.write(drain_snapshot(drain_key(store.host_id), DRAIN.started, DRAIN.until - DRAIN.started))


@pytest.fixture(scope="module")
def answers(tmp_path_factory) -> Iterator[tuple[Site, dict[str, tuple[Answer, Answer]]]]:
    """Each endpoint's answer without the index, then with it; and the site, its index written."""
    site = make_site(tmp_path_factory.mktemp("idx"))
    store = DiskcacheStore(str(site.store_dir))
    fill(store)
    without = {name: site.ask(*args) for name, (args, _) in CASES.items()}
    site.write_index()
    found = {name: (without[name], site.ask(*args)) for name, (args, _) in CASES.items()}
    yield site, found
    store.close()


@pytest.mark.parametrize("case", CASES)
def test_no_http_index__same_answer_without_the_urlconf(answers, case):
    """With the index the URLconf is not imported, and the answer is the one it gives: same text, same exit code
    (also for a readiness endpoint while its host drains, and with --check / --exclude)."""
    _, found = answers
    without, with_index = found[case]
    assert without.imported, "without an index the URLconf is imported"
    assert not with_index.imported, with_index.stderr
    assert (with_index.code, with_index.stdout, with_index.stderr) == (without.code, without.stdout, without.stderr)
    expected = CASES[case][1]
    if expected is not None:
        assert (with_index.code, with_index.stdout) == expected


def test_no_http_index__misconfigured_entries(answers):
    """Entries that cannot be resolved are answered from the index as the URLconf answers them."""
    _, found = answers
    _, with_index = found["broken"]
    lines = with_index.stdout.splitlines()
    assert with_index.code == 1
    assert lines[0] == "Sample(label='up'): OK"
    assert lines[1].startswith("'tests.testapp.probes.Nope': Unavailable: configuration error: cannot import")
    assert lines[2].startswith("'tests.testapp.probes.Sample': Unavailable: configuration error: Sample cannot")


def test_no_http_index__subset_errors(answers):
    """An unknown --check name is the same error with the index: exit 2, the names that exist; the drain
    reading stays whatever --exclude says."""
    _, found = answers
    assert found["subset-unknown"][1].stderr == (
        "no check named 'Nope' on this endpoint. Checks of this endpoint: Sample(label='up'), Sample(label='down').\n"
    )
    assert found["subset-ready"][1].stdout.endswith(f"Drain: {DRAIN.message}\n")


def test_no_http_index__unknown_names_fall_back(answers):
    """A name the index does not know (a typo, a view that is no HealthCheckView) gets the URLconf's error."""
    site, _ = answers
    typo = site.ask("nope")
    assert (typo.code, typo.stdout, typo.imported) == (2, "", True)
    assert typo.stderr == (
        "Could not resolve endpoint 'nope': Reverse for 'nope' not found. 'nope' is not a valid view function or "
        "pattern name.\nPlease provide a valid URL pattern name for the health check endpoint.\n"
    )
    bare = site.ask("bare")
    assert (bare.code, bare.imported) == (2, True)
    assert bare.stderr == "Endpoint 'bare' at '/bare/' is not a HealthCheckView; --no-http needs one.\n"


def test_no_http_index__other_settings_fall_back(answers):
    """A process whose settings differ from the poller's (a changed setting) does not trust the index."""
    site, _ = answers
    changed = site.ask("failing", IDX_FLAVOR="spicy")
    assert changed.imported
    assert (changed.code, changed.stdout) == EXPECTED["failing"]


def test_no_http_index__deploy_that_changes_checks(tmp_path):
    """A deploy changes an endpoint's checks: the old index is out of date, the new checks are answered, and
    once the new poller wrote its index the answer comes from it again."""
    site = make_site(tmp_path)
    store = DiskcacheStore(str(site.store_dir))
    fill(store)
    site.write_index()
    assert (site.ask("healthy").imported, site.ask("healthy").stdout) == (False, "Sample(label='up'): OK\n")
    site.set_urls(
        '[("tests.testapp.probes.Sample", {"label": "up"}), ("tests.testapp.probes.Sample", {"label": "down"})]'
    )
    after_deploy = site.ask("healthy")
    assert after_deploy.imported
    assert (after_deploy.code, after_deploy.stdout) == EXPECTED["failing"]
    site.write_index()
    from_new_index = site.ask("healthy")
    assert not from_new_index.imported
    assert (from_new_index.code, from_new_index.stdout) == EXPECTED["failing"]
    store.close()


def test_no_http_index__written_by_poller_once(tmp_path):
    """``health_check_poller --once`` writes the index with the snapshots: the next probe skips the URLconf."""
    site = make_site(tmp_path)
    subprocess.run(
        [sys.executable, "-m", "django", "health_check_poller", "--once", "--skip-checks"],  # E002: "broken"
        cwd=site.root,
        env=site.env(),
        capture_output=True,
        timeout=120,
    )
    answer = site.ask("healthy")
    assert not answer.imported, answer.stderr
    assert (answer.code, answer.stdout) == (
        1,
        "Sample(label='up'): Unavailable: Sample 'up' was run; views must only read snapshots\n",
    )


def test_no_http_index__store_unreadable_falls_back(tmp_path):
    """The store cannot be opened: the index is not read, and the command says what is wrong, as before."""
    site = make_site(tmp_path)
    site.write_index()
    (site.store_dir / "cache.db").write_bytes(b"this is not an SQLite database" * 100)
    answer = site.ask("healthy")
    assert (answer.code, answer.stdout, answer.imported) == (2, "", True)
    assert answer.stderr.startswith(
        f"Cannot read the health check snapshots: cannot open the diskcache store at {site.store_dir}: "
    )
    assert "Traceback" not in answer.stderr


def test_no_http_index__redis_down_falls_back_at_once(tmp_path, redis_server):
    """A Redis store that stops answering: no hang, no traceback; the URLconf's path answers from what the host saw."""
    from health_check.store.redis import RedisStore

    site = make_site(tmp_path)
    env = {"IDX_STORE": redis_server.url}
    store = RedisStore(redis_server.url, location=str(site.store_dir), host_id="host-a")
    fill(store)
    site.write_index(**env)
    up = site.ask("failing", **env)
    assert (up.code, up.stdout, up.imported) == (*EXPECTED["failing"], False)
    redis_server.kill()
    down = site.ask("failing", **env)
    assert down.imported
    assert "Traceback" not in down.stdout + down.stderr
    assert down.code == 1
    assert down.stdout == (
        f"Sample(label='up'): OK (last seen: the Redis store at {redis_server.url} does not answer)\n"
        f"Sample(label='down'): Unavailable: down (last seen: the Redis store at {redis_server.url} does not answer)\n"
    )
    assert down.seconds < up.seconds + 5
    store.close()


def test_no_http_index__settings_digest_same_in_every_process(tmp_path):
    """Two processes with other hash seeds (a set's order) agree on the settings digest, so the index is used."""
    site = make_site(tmp_path)
    script = "import django; django.setup(); from health_check._index import settings_digest; print(settings_digest())"
    digests = {
        subprocess.run(
            [sys.executable, "-c", script],
            cwd=site.root,
            env=site.env(PYTHONHASHSEED=seed),
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in ("1", "2", "3")
    }
    assert len(digests) == 1 and len(digests.pop().strip()) == 64


def test_no_http_index__other_working_directory_falls_back(tmp_path):
    """Disk()'s default path is the working directory: a probe run from elsewhere names another check, and
    gets the URLconf's answer for it (pending), not the poller's snapshot of the first."""
    from health_check.contrib.psutil import Disk

    site = make_site(tmp_path)
    store = DiskcacheStore(str(site.store_dir))
    store.write(make_snapshot(CheckSpec.of(Disk(path=str(site.root))).key, interval_seconds=3600.0))
    site.write_index()
    here = site.ask("disk")
    assert (here.code, here.imported) == (0, False)
    assert here.stdout.startswith(f"Disk(path={str(site.root)!r}, hostname=")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    there = site.ask("disk", cwd=elsewhere)
    assert (there.code, there.imported) == (1, True)
    assert there.stdout.startswith(f"Disk(path={str(elsewhere)!r}, hostname=")
    assert there.stdout.endswith(f": {PENDING}\n")
    store.close()
