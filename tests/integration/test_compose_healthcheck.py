"""The Compose healthcheck (docs/recipes/files/compose.yml) run the way Docker runs it.

No Docker engine runs here, so the test does what the engine does: every ``interval`` it starts the
``healthcheck.test`` command as a fresh process, kills it after ``timeout``, and the exit code decides
(0 healthy, anything else a failure). The command is read from the recipe; only ``web:8000`` becomes
the test server's address and ``python`` this interpreter.
"""

from __future__ import annotations

import re
import subprocess
import time

import pytest
import yaml

from tests.integration.conftest import EXAMPLE_DIR, PYTHON, RECIPES, ExampleSite

pytestmark = pytest.mark.slow


def compose_web() -> dict:
    return yaml.safe_load((RECIPES / "compose.yml").read_text())["services"]["web"]


def seconds(duration: str) -> float:
    """A Compose duration such as ``30s`` or ``1m30s`` in seconds."""
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", duration)
    assert parts and "".join(n + u for n, u in parts) == duration, f"not a Compose duration: {duration!r}"
    return sum(float(number) * units[unit] for number, unit in parts)


def docker_probe(site: ExampleSite, *extra: str) -> tuple[int, str, float]:
    """Run the recipe's healthcheck command once as Docker would: (exit code, output, wall seconds)."""
    web = compose_web()
    kind, *command = web["healthcheck"]["test"]
    assert kind == "CMD"
    assert command[:2] == ["python", "manage.py"] and "web:8000" in command, command
    args = [PYTHON, *command[1:]]
    args[args.index("web:8000")] = site.address
    env = {**site.env, "ALLOWED_HOSTS": web["environment"]["ALLOWED_HOSTS"]}
    started = time.monotonic()
    result = subprocess.run(  # noqa: S603 - the recipe's own command
        [*args, *extra],
        cwd=EXAMPLE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=seconds(web["healthcheck"]["timeout"]),
    )
    return result.returncode, result.stdout + result.stderr, time.monotonic() - started


def test_compose__recipe_keeps_the_cookbook_command_and_timing():
    """The recipe runs `manage.py health_check health_check-node web:8000` every 30 s with a 10 s timeout."""
    healthcheck = compose_web()["healthcheck"]
    assert healthcheck["test"] == ["CMD", "python", "manage.py", "health_check", "health_check-node", "web:8000"]
    assert (seconds(healthcheck["interval"]), seconds(healthcheck["timeout"])) == (30, 10)


def test_compose__healthcheck_agrees_with_http_and_costs_well_under_the_timeout(sidecar_site: ExampleSite):
    """Fresh processes exit 0 while the node tier answers 200 and 1 once it answers 500, each in under 10 s."""
    timeout = seconds(compose_web()["healthcheck"]["timeout"])
    healthy_runs = []
    for _ in range(3):  # a shortened interval: one run a second instead of every 30 s
        code, output, took = docker_probe(sidecar_site)
        http = sidecar_site.node()
        healthy_runs.append(took)
        assert (code, http.status) == (0, 200), output
        assert output == http.body
        time.sleep(1)
    # Django start-up plus one HTTP request; the bound is loose on purpose (a busy 2-core machine).
    assert max(healthy_runs) < timeout / 2, f"healthcheck runs took {healthy_runs} s"

    sidecar_site.pause_poller()
    failing = sidecar_site.wait_node(500, timeout=30)
    code, output, took = docker_probe(sidecar_site)
    assert code == 1, output
    assert "Unavailable: stale, last result is" in output
    assert failing.status == 500 and took < timeout / 2

    sidecar_site.resume_poller()
    sidecar_site.wait_node(200, timeout=30)
    code, output, _ = docker_probe(sidecar_site)
    assert code == 0, output


def test_compose__no_http_reads_the_same_answer_from_the_store(sidecar_site: ExampleSite):
    """`--no-http` exits like the endpoint answers (0 on 200, 1 on 500) and prints one line per check."""
    code, output, took = docker_probe(sidecar_site, "--no-http")
    assert code == 0, output
    assert output == sidecar_site.node().body
    assert took < 5

    sidecar_site.pause_poller()
    sidecar_site.wait_node(500, timeout=30)
    code, output, _ = docker_probe(sidecar_site, "--no-http")
    assert code == 1, output
    assert "Unavailable: stale, last result is" in output


def test_compose__unreachable_server_exits_2_with_a_clear_message(sidecar_site: ExampleSite):
    """With nothing listening at the address the command exits 2 and says the server is not reachable."""
    sidecar_site.gunicorn.stop()
    code, output, _ = docker_probe(sidecar_site)
    assert code == 2
    assert f"'http://{sidecar_site.address}{sidecar_site.node_path}' is not reachable" in output
    assert "Please check your server is running and reachable." in output
