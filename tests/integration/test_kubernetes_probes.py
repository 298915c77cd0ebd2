"""The probes of docs/recipes/files/deployment.yaml, applied the way a kubelet applies them.

There is no cluster here, so a small prober does the kubelet's part: an HTTP GET with the probe's
headers, success when the status is 200-399 and the answer arrives within ``timeoutSeconds`` (1 s by
default), and a result that flips only after ``failureThreshold`` failures or ``successThreshold``
successes in a row. Periods are shortened; everything else comes from the manifest.
"""

from __future__ import annotations

import dataclasses
import time
import urllib.error
import urllib.request
from typing import Any

import pytest
import yaml

from tests.integration.conftest import RECIPES, ExampleSite
from tests.support import port_open, try_get, wait_for

pytestmark = pytest.mark.slow

PERIOD = 0.2  # seconds between attempts in the test, whatever periodSeconds says


def manifest_containers() -> dict[str, dict[str, Any]]:
    deployment = yaml.safe_load((RECIPES / "deployment.yaml").read_text())
    return {container["name"]: container for container in deployment["spec"]["template"]["spec"]["containers"]}


@dataclasses.dataclass
class Prober:
    """One probe of one container, with the kubelet's result bookkeeping."""

    url: str
    headers: dict[str, str]
    timeout: float
    failure_threshold: int
    success_threshold: int
    ok: bool
    failures: int = 0
    successes: int = 0
    last: str = ""

    @classmethod
    def from_manifest(cls, kind: str, site: ExampleSite) -> Prober:
        spec = manifest_containers()["web"][kind]
        get = spec["httpGet"]
        assert get["port"] == 8000, get
        path = get["path"].replace("/health/dev/", f"/health/{site.secret}/")
        headers = {h["name"]: h["value"] for h in get.get("httpHeaders", [])}
        return cls(
            url=f"http://{site.address}{path}",
            headers={"User-Agent": "kube-probe/1.31", "Accept": "*/*", **headers},
            timeout=float(spec.get("timeoutSeconds", 1)),
            failure_threshold=int(spec.get("failureThreshold", 3)),
            success_threshold=int(spec.get("successThreshold", 1)),
            # Liveness and startup count as passing until they fail; readiness starts "not ready".
            ok=kind != "readinessProbe",
        )

    def attempt(self) -> bool:
        """One HTTP GET: success is a 2xx or 3xx answer within the timeout."""
        request = urllib.request.Request(self.url, headers=self.headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 - loopback
                status = response.status
        except urllib.error.HTTPError as error:
            status = error.code
        except OSError as error:
            self.last = f"error: {error}"
            return False
        self.last = f"HTTP {status}"
        return 200 <= status < 400

    def step(self) -> bool:
        """Probe once and return the probe's result after the thresholds are applied."""
        if self.attempt():
            self.successes, self.failures = self.successes + 1, 0
            if self.successes >= self.success_threshold:
                self.ok = True
        else:
            self.failures, self.successes = self.failures + 1, 0
            if self.failures >= self.failure_threshold:
                self.ok = False
        return self.ok


def run_until(probers: dict[str, Prober], done, *, timeout: float, what: str) -> list[dict[str, bool]]:
    """Step every prober each period until ``done(results)``; returns the history of results."""
    history: list[dict[str, bool]] = []

    def round_done() -> bool:
        history.append({name: prober.step() for name, prober in probers.items()})
        time.sleep(PERIOD)
        return done(history[-1])

    try:
        wait_for(round_done, timeout=timeout, what=what, interval=0)
    except AssertionError as error:
        lasts = {name: prober.last for name, prober in probers.items()}
        raise AssertionError(f"{error}; last answers: {lasts}") from None
    return history


@pytest.fixture
def pod_env() -> dict[str, str]:
    """The web container's plain environment variables from the manifest (ALLOWED_HOSTS...)."""
    env = manifest_containers()["web"]["env"]
    return {item["name"]: item["value"] for item in env if "value" in item and item["name"] == "ALLOWED_HOSTS"}


def test_kubernetes__manifest_runs_the_standalone_poller_as_a_sidecar():
    """The poller container runs `python manage.py health_check_poller` and shares the web container's store."""
    containers = manifest_containers()
    assert containers["poller"]["command"] == ["python", "manage.py", "health_check_poller"]
    assert containers["poller"]["env"] == containers["web"]["env"]
    assert containers["poller"]["volumeMounts"] == containers["web"]["volumeMounts"]


def test_kubernetes__all_probes_pass_on_a_healthy_pod(make_site, pod_env):
    """Startup succeeds at once, then readiness and liveness pass on every attempt, each within timeoutSeconds."""
    site = make_site(sidecar=True, env=pod_env)
    startup = Prober.from_manifest("startupProbe", site)
    assert startup.attempt(), startup.last
    probers = {kind: Prober.from_manifest(kind, site) for kind in ("readinessProbe", "livenessProbe")}
    assert all(prober.timeout == 1 for prober in probers.values())

    history = []
    for _ in range(10):
        history.append({name: prober.step() for name, prober in probers.items()})
        time.sleep(PERIOD)

    assert history == [{"readinessProbe": True, "livenessProbe": True}] * 10, [p.last for p in probers.values()]


def test_kubernetes__startup_probe_covers_pending_snapshots(make_site, pod_env):
    """Before the first poll the node tier is pending: startup fails, liveness passes; startup passes after a poll."""
    site = make_site(sidecar=True, start_poller=False, wait_healthy=False, env=pod_env)
    wait_for(lambda: port_open("127.0.0.1", site.port), timeout=30, what="gunicorn listening")
    startup = Prober.from_manifest("startupProbe", site)
    liveness = Prober.from_manifest("livenessProbe", site)
    # gunicorn listens before its workers have booted; on a loaded machine the first answer can take
    # longer than the probe's 1 s. This test is about pending snapshots, not boot time: wait for a worker.
    wait_for(lambda: try_get(site.url("/"), timeout=10) is not None, timeout=30, what="a gunicorn worker answering")

    assert (startup.attempt(), startup.last) == (False, "HTTP 500")
    assert "Unavailable: pending, no result yet" in site.node().body
    assert (liveness.attempt(), liveness.last) == (True, "HTTP 200")

    site.start_poller()
    started = time.monotonic()
    wait_for(startup.attempt, timeout=30, what="startup probe passing after the first poll", interval=PERIOD)
    # Well inside the manifest's budget of failureThreshold × periodSeconds (30 × 2 s).
    assert time.monotonic() - started < 30


def test_kubernetes__stale_snapshots_unready_the_pod_but_do_not_restart_it(make_site, pod_env):
    """With the poller frozen, readiness fails after failureThreshold attempts while liveness keeps passing."""
    site = make_site(sidecar=True, env=pod_env)
    probers = {kind: Prober.from_manifest(kind, site) for kind in ("readinessProbe", "livenessProbe")}
    run_until(probers, lambda r: r["readinessProbe"], timeout=10, what="pod ready")

    site.pause_poller()
    history = run_until(probers, lambda r: not r["readinessProbe"], timeout=30, what="pod not ready")
    assert all(results["livenessProbe"] for results in history)
    assert probers["readinessProbe"].failures == probers["readinessProbe"].failure_threshold == 3
    assert "Unavailable: stale, last result is" in site.node().body

    site.resume_poller()
    history = run_until(probers, lambda r: r["readinessProbe"], timeout=30, what="pod ready again")
    assert all(results["livenessProbe"] for results in history)
