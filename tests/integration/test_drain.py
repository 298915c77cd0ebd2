"""Graceful drain of the example project: gunicorn with 2 workers behind HAProxy, probed all along.

What a Kubernetes ``preStop`` hook does, in order: ``manage.py health_check_drain --seconds N`` marks the
host as draining; both workers' readiness endpoint answers 503 within a second while the liveness
endpoint and the site keep answering 200 and a request in flight finishes; HAProxy, checking the
readiness endpoint, marks the server DOWN; the command returns, and only then does gunicorn get
SIGTERM (which it handles gracefully). The timeline is printed (``-s`` shows it).
"""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from tests.integration.conftest import EXAMPLE_DIR, PYTHON, ExampleSite, haproxy_stat, render, require_binary
from tests.integration.test_kubernetes_probes import manifest_containers
from tests.support import free_port, port_open, try_get, wait_for

pytestmark = pytest.mark.slow

DRAIN_SECONDS = 4.0
INTER = 0.2  # HAProxy's check interval here (seconds)
HEADERS = {"Host": "localhost", "Accept": "application/json"}
ACCESS = re.compile(r"^<(\d+)> GET (\S+) HTTP/1\.[01] (\d{3})$")


def start_haproxy(site: ExampleSite, tmp_path: Path, start_service) -> Path:
    """HAProxy from the recipe, checking the readiness endpoint (as docs/recipes/haproxy.md shows)."""
    binary = require_binary("haproxy")
    sock = tmp_path / "haproxy.sock"
    config = render(
        "haproxy.cfg",
        {
            "/run/haproxy/admin.sock": str(sock),
            "bind :80": f"bind 127.0.0.1:{free_port()}",
            '"/health/${HEALTH_CHECK_SECRET-dev}/node/"': '"/health/${HEALTH_CHECK_SECRET-dev}/ready/"',
            "server app1 127.0.0.1:8000 check inter 30s fall 3 rise 2": (
                f"server app1 {site.address} check inter {int(INTER * 1000)}ms fall 2 rise 2"
            ),
        },
    )
    path = tmp_path / "haproxy.cfg"
    path.write_text(config)
    haproxy = start_service(
        "haproxy",
        [binary, "-db", "-f", str(path)],
        env={"PATH": "/usr/sbin:/usr/bin:/bin", "HEALTH_CHECK_SECRET": site.secret},
    )
    wait_for(lambda: haproxy.assert_running() or sock.exists(), timeout=10, what="HAProxy's stats socket")
    return sock


def server_status(sock: Path) -> str:
    return next(row["status"] for row in haproxy_stat(sock) if row["svname"] == "app1")


def test_drain__two_workers_behind_haproxy(make_site, tmp_path, start_service, capsys):
    access_log = tmp_path / "access.log"
    site: ExampleSite = make_site(
        env={"GUNICORN_CMD_ARGS": f"--access-logfile {access_log} --access-logformat '%(p)s %(r)s %(s)s'"}
    )
    ready_path = f"/health/{site.secret}/ready/"
    live_path = site.node_path
    assert try_get(site.url(ready_path), headers=HEADERS).status == 200
    sock = start_haproxy(site, tmp_path, start_service)
    wait_for(lambda: server_status(sock) == "UP", timeout=30, what="HAProxy marking app1 UP")

    # Steady probing of both endpoints, each request numbered so the access log says which worker answered.
    answers: list[tuple[float, str, int, int]] = []  # (time, path, n, status)
    stop = threading.Event()

    def probe() -> None:
        n = 0
        while not stop.is_set():
            for path in (ready_path, live_path):
                n += 1
                got = try_get(site.url(f"{path}?n={n}"), headers=HEADERS, timeout=5)
                answers.append((time.monotonic(), path, n, got.status if got else 0))
            time.sleep(0.01)

    prober = threading.Thread(target=probe, daemon=True)
    prober.start()
    time.sleep(0.5)

    # A request in flight: its headers are sent before the drain, its end after the first 503.
    in_flight = socket.create_connection(("127.0.0.1", site.port), timeout=30)
    in_flight.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n")

    # The recipe's preStop hook (docs/recipes/files/deployment.yaml), its 15 s shortened.
    hook = manifest_containers()["web"]["lifecycle"]["preStop"]["exec"]["command"]
    assert hook == ["python", "manage.py", "health_check_drain", "--seconds", "15"], hook
    drain = subprocess.Popen(
        [PYTHON, *hook[1:-1], str(DRAIN_SECONDS)],
        cwd=EXAMPLE_DIR,
        env=site.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    first_line = drain.stdout.readline()
    marked = time.monotonic()  # the command prints once the mark is written
    assert first_line == f"Draining for {DRAIN_SECONDS:g} s: readiness endpoints answer 503.\n"

    wait_for(
        lambda: any(t > marked and p == ready_path and s == 503 for t, p, _, s in answers), timeout=5, what="a 503"
    )
    in_flight.sendall(b"Connection: close\r\n\r\n")
    reply = b""
    while chunk := in_flight.recv(65536):
        reply += chunk
    in_flight.close()
    assert reply.startswith(b"HTTP/1.1 200 OK"), reply[:200]

    down_at = None
    while drain.poll() is None:
        if down_at is None and server_status(sock).startswith("DOWN"):
            down_at = time.monotonic()
        time.sleep(0.02)
    ended = time.monotonic()
    rest, errors = drain.communicate(timeout=10)  # also closes its pipes
    assert (drain.returncode, rest, errors) == (0, "Drained.\n", "")
    stop.set()
    prober.join(timeout=10)
    # What a kubelet does when the preStop hook returns: SIGTERM to the server, which stops gracefully.
    site.gunicorn.process.send_signal(signal.SIGTERM)
    assert site.gunicorn.process.wait(timeout=30) == 0, site.gunicorn.log_tail()

    # Which worker answered each request (gunicorn's access log: "<pid> GET path HTTP/1.1 status").
    wait_for(lambda: access_log.exists() and access_log.stat().st_size > 0, timeout=5, what="the access log")
    worker_of: dict[int, str] = {}
    for line in access_log.read_text().splitlines():
        found = ACCESS.match(line)
        if found and "?n=" in found[2]:
            worker_of[int(found[2].rsplit("?n=", 1)[1])] = found[1]
    during = [(t, p, n, s) for t, p, n, s in answers if marked + 1.0 <= t <= ended - 0.5]
    ready = [(n, s) for _, p, n, s in during if p == ready_path]
    live = [s for _, p, _, s in during if p == live_path]
    assert ready and live
    assert {s for _, s in ready} == {503}, ready
    assert set(live) == {200}, live
    assert len({worker_of[n] for n, _ in ready if n in worker_of}) == 2, "503s came from one worker only"

    assert down_at is not None, "HAProxy never marked app1 DOWN while the host drained"
    assert down_at < ended  # before the hook returned, so before the server got SIGTERM
    first_503 = {}
    for t, p, n, s in answers:
        if p == ready_path and s == 503 and t > marked - 1 and n in worker_of:
            first_503.setdefault(worker_of[n], t - marked)
    with capsys.disabled():
        print(
            "\ndrain timeline (s after the mark was written): first 503 per worker "
            + ", ".join(f"{v:+.3f}" for v in sorted(first_503.values()))
            + f"; HAProxy DOWN {down_at - marked:+.3f} (inter {INTER} s, fall 2); command returned {ended - marked:+.3f}"
        )
    assert not port_open("127.0.0.1", site.port)


def test_drain__ends_when_the_web_processes_restart(make_site, tmp_path):
    """A server started after the drain began is not draining; SIGTERM to the command cancels the drain."""
    from tests.integration.conftest import gunicorn_args
    from tests.support import Process

    site: ExampleSite = make_site()
    ready = site.url(f"/health/{site.secret}/ready/")
    drain = subprocess.Popen(
        [PYTHON, "manage.py", "health_check_drain", "--seconds", "600"],
        cwd=EXAMPLE_DIR,
        env=site.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert drain.stdout.readline().startswith("Draining for 600 s")
        assert try_get(ready, headers=HEADERS).status == 503
        site.gunicorn.stop()
        again = Process(gunicorn_args(site.port, site.tmp), name="gunicorn", cwd=EXAMPLE_DIR, env=site.env)
        try:
            answer = wait_for(lambda: try_get(ready, headers=HEADERS), timeout=30, what="the restarted server")
            assert answer.status == 200, answer.body
        finally:
            again.stop()
        drain.send_signal(signal.SIGTERM)
        rest, errors = drain.communicate(timeout=30)
        assert (drain.returncode, rest, errors) == (0, "Drain cancelled.\n", "")
    finally:
        if drain.poll() is None:
            drain.kill()
            drain.communicate()
