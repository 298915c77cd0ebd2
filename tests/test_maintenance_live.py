"""A silence during an outage, on a real gunicorn with its poller, set and ended by the command as an
operator runs it: probes stop failing, the feed gets one item at the start and one at the end, and
uptime leaves the time out."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

import pytest

from tests.support import http_get, manage, serve_store, wait_for

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")

NAME = "Switch(label='db')"
SETTINGS = "tests.testapp.settings_maintenance"


def reading(url: str) -> tuple[int, str]:
    response = http_get(url + "?format=json")
    return response.status, json.loads(response.body)[NAME]


def titles(url: str) -> list[str]:
    """The feed's item titles, newest first, as a Slack channel would post them (oldest first)."""
    root = ET.fromstring(http_get(url + "?format=rss").body)
    return [item.findtext("title") or "" for item in root.iter("item")]


@pytest.fixture
def live(tmp_path):
    switch = tmp_path / "off"
    env = {
        "HEALTH_SNAPSHOT_STORE_DIR": str(tmp_path / "store"),
        "HEALTH_SNAPSHOT_SWITCH": str(switch),
    }
    server = serve_store("gunicorn", env["HEALTH_SNAPSHOT_STORE_DIR"], settings=SETTINGS, **env)
    url = f"http://127.0.0.1:{server.port}/health/switch/"
    try:
        wait_for(lambda: reading(url) == (200, "OK"), timeout=30, what=lambda: f"a first run\n{server.log_tail()}")
        yield url, switch, env
    finally:
        server.stop()


def test_silence__during_an_outage(live):
    url, switch, env = live
    switch.touch()
    wait_for(lambda: reading(url)[0] == 500, timeout=10, what="the outage")

    done = manage(
        "health_check_silence",
        "health_check-switch",
        "--for",
        "1h",
        "--reason",
        "DB upgrade",
        settings=SETTINGS,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    found = re.fullmatch(
        r"Silenced health_check-switch until \S+ \S+ UTC \(id (\w+)\): DB upgrade; its probes answer healthy\. "
        r"End it early with: manage\.py health_check_silence --end (\w+)\n",
        done.stdout,
    )
    assert found and found[1] == found[2], done.stdout
    silence = found[1]

    # The poller applies it within about a second; the probe answers 200 and says why.
    status, message = wait_for(lambda: (r := reading(url))[0] == 200 and r, timeout=5, what="the silence applied")
    assert re.fullmatch(
        r"Maintenance: DB upgrade \(until \S+ \S+ UTC\); the check reports: Unavailable: db switched off", message
    ), message
    # The check recovers and fails again inside the maintenance: readings follow, the feed stays quiet.
    switch.unlink()
    wait_for(lambda: reading(url)[1].endswith("the check reports: OK"), timeout=5, what="recovered inside")
    assert reading(url)[0] == 200
    switch.touch()
    wait_for(lambda: reading(url)[1].endswith("switched off"), timeout=5, what="failing again inside")

    listed = manage("health_check_silence", "--list", settings=SETTINGS, env=env)
    assert listed.returncode == 0 and f"{silence}  health_check-switch  until " in listed.stdout, listed.stdout

    ended = manage("health_check_silence", "--end", silence, settings=SETTINGS, env=env)
    assert ended.returncode == 0 and ended.stdout == f"Ended silence {silence} of health_check-switch: DB upgrade\n"
    wait_for(lambda: reading(url) == (500, "Unavailable: db switched off"), timeout=5, what="the true state back")

    feed = titles(url)
    assert [re.sub(r"\d\d:\d\d", "HH:MM", title) for title in feed] == [
        f"{NAME}: maintenance ended - failing - Unavailable: db switched off",
        f"{NAME}: maintenance started - DB upgrade (until HH:MM UTC)",
        f"{NAME}: failing - Unavailable: db switched off",
    ]

    windows = json.loads(http_get(url + "?format=uptime").body)["checks"][NAME]["windows"]
    day = windows["24h"]
    # Shares are rounded to 6 decimals (±0.04 s of a day); uptime is exact: it lies between the bounds
    # the rounded shares allow with the maintenance left out, and well above it counted as failing.
    served, failed, maintenance, half = day["ok"] + day["warning"], day["error"], day["maintenance"], 5e-7
    assert maintenance > 4 * half
    low, high = (served - half) / (served + failed), (served + half) / (served + failed)
    assert low <= day["uptime"] <= high, day
    assert (served + half) / (served + failed + maintenance - 3 * half) < day["uptime"], "maintenance counted"
    assert day["incidents"] == 2, "the outage before, and the failure the maintenance ended in"


def test_silence__command_refuses_what_it_cannot_do(live):
    """An unknown name (with the closest), a wrong duration, nothing to end: exit 2, one clear line."""
    url, _, env = live
    typo = manage("health_check_silence", "health_check-swtch", "--for", "1h", settings=SETTINGS, env=env)
    assert (typo.returncode, typo.stdout) == (2, "")
    assert typo.stderr == (
        "No check or endpoint is called 'health_check-swtch'. Did you mean 'health_check-switch'? "
        "Names are as the endpoints show them.\n"
    )
    wrong = manage("health_check_silence", NAME, "--for", "soon", settings=SETTINGS, env=env)
    assert (wrong.returncode, wrong.stderr) == (2, "--for: 'soon' is not a duration; use e.g. 30m, 1h, 2h30m or 1d.\n")
    nothing = manage("health_check_silence", "--end", "abc", settings=SETTINGS, env=env)
    assert (nothing.returncode, nothing.stderr) == (2, "No silence under way has the id or target 'abc'; see --list.\n")
    assert manage("health_check_silence", "--list", settings=SETTINGS, env=env).stdout == "No silence under way.\n"
    assert reading(url) == (200, "OK")
