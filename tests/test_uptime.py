"""Uptime from the journal, against a month scripted by hand and figures computed by hand."""

from __future__ import annotations

import datetime
import random

import pytest
from django.core.management import call_command

from health_check.journal import INCIDENT, STATUS, Transition
from health_check.store import get_store
from health_check.uptime import endpoint_uptime, uptime

NOW = datetime.datetime(2030, 1, 31, tzinfo=datetime.UTC)
H = datetime.timedelta(hours=1)
D = datetime.timedelta(days=1)


def entry(key: str, at: datetime.datetime, from_state: str, to_state: str, kind: str = STATUS) -> Transition:
    return Transition(
        id=f"{key}-{at.isoformat()}",
        key=key,
        name=key,
        kind=kind,
        from_state=from_state,
        to_state=to_state,
        at=at,
        message="",
        title="",
    )


#: A: observed 40 days ago; a 2 h outage 10 days ago, a 6 h warning 3 days ago, 1 h stale 12 h ago.
A = [
    entry("a", NOW - 40 * D, "pending", "ok"),
    entry("a", NOW - 10 * D, "ok", "error"),
    entry("a", NOW - 10 * D + 2 * H, "error", "ok"),
    entry("a", NOW - 3 * D, "ok", "warning"),
    entry("a", NOW - 3 * D + 6 * H, "warning", "ok"),
    entry("a", NOW - 12 * H, "ok", "stale"),
    entry("a", NOW - 11 * H, "stale", "ok"),
    # Not changes of the check's state: an upstream incident, and an entry after "now".
    entry("a", NOW - 5 * D, "", "investigating", kind=INCIDENT),
    entry("a", NOW + H, "ok", "error"),
]
#: B: first observed 36 h ago, ok since.
B = [entry("b", NOW - 36 * H, "pending", "ok")]


def figures(result, window):
    return result[window].as_dict()


def shares(ok=0.0, warning=0.0, error=0.0, stale=0.0, unknown=0.0, *, hours):
    return {
        "ok": round(ok / hours, 6),
        "warning": round(warning / hours, 6),
        "error": round(error / hours, 6),
        "stale_or_pending": round(stale / hours, 6),
        "maintenance": 0.0,
        "unknown": round(unknown / hours, 6),
    }


def test_uptime__a_month_of_one_check():
    found = uptime(random.Random(7).sample(A, len(A)), NOW)  # any order
    assert figures(found, "24h") == {
        **shares(ok=23, stale=1, hours=24),
        "uptime": round(23 / 24, 6),
        "incidents": 1,
        "longest_outage_seconds": 3600.0,
    }
    assert figures(found, "7d") == {
        **shares(ok=161, warning=6, stale=1, hours=168),
        "uptime": round(167 / 168, 6),
        "incidents": 1,  # ok -> warning still serves
        "longest_outage_seconds": 3600.0,
    }
    assert figures(found, "30d") == {
        **shares(ok=711, warning=6, error=2, stale=1, hours=720),
        "uptime": round(717 / 720, 6),
        "incidents": 2,
        "longest_outage_seconds": 7200.0,
    }


def test_uptime__time_before_the_first_observation_is_unknown():
    found = uptime(B, NOW)
    assert figures(found, "24h")["ok"] == 1.0
    week = figures(found, "7d")
    assert (week["ok"], week["unknown"], week["uptime"]) == (round(36 / 168, 6), round(132 / 168, 6), 1.0)
    assert figures(found, "30d")["unknown"] == round(684 / 720, 6)
    nothing = uptime([], NOW)["24h"]
    assert (nothing.shares["unknown"], nothing.uptime, nothing.incidents) == (1.0, None, 0)


def test_uptime__the_endpoint_follows_its_worst_check():
    """Unknown while any check is; otherwise the worst state of its checks at each moment."""
    found = endpoint_uptime([A, B], NOW)
    assert figures(found, "24h") == {
        **shares(ok=23, stale=1, hours=24),
        "uptime": round(23 / 24, 6),
        "incidents": 1,
        "longest_outage_seconds": 3600.0,
    }
    assert figures(found, "7d") == {
        **shares(ok=35, stale=1, unknown=132, hours=168),
        "uptime": round(35 / 36, 6),
        "incidents": 1,
        "longest_outage_seconds": 3600.0,
    }
    # Two checks failing at overlapping times: one outage, as long as their union.
    c = [
        entry("c", NOW - 40 * D, "pending", "ok"),
        entry("c", NOW - 5 * H, "ok", "error"),
        entry("c", NOW - 3 * H, "error", "ok"),
    ]
    d = [
        entry("d", NOW - 40 * D, "pending", "ok"),
        entry("d", NOW - 4 * H, "ok", "stale"),
        entry("d", NOW - 1 * H, "stale", "ok"),
    ]
    both = figures(endpoint_uptime([c, d], NOW), "24h")
    assert (both["incidents"], both["longest_outage_seconds"]) == (1, 4 * 3600.0)
    assert both["error"] == round(2 / 24, 6) and both["stale_or_pending"] == round(2 / 24, 6)


# -- ?format=uptime -----------------------------------------------------------------------------------


def test_uptime__format_uptime_from_the_store(memory_store, settings):
    """The endpoint's ?format=uptime: the scripted month of alpha, beta observed 36 h, gamma never."""
    import json

    from django.test import RequestFactory

    from health_check.journal import append_transitions
    from health_check.views import HealthCheckView
    from tests.scenarios import NAMES, SPECS, snapshots
    from tests.testapp.probes import Sample

    for snapshot in snapshots("fresh", now=NOW).values():
        memory_store.write(snapshot)
    script = [
        (SPECS["alpha"], [(e.at, e.from_state, e.to_state) for e in A if e.kind == STATUS and e.at <= NOW]),
        (SPECS["beta"], [(NOW - 36 * H, "pending", "ok")]),
    ]
    for spec, changes in script:
        entries = [entry(spec.key, at, before, after) for at, before, after in changes]
        append_transitions(memory_store, entries, retention=200)
    endpoint = HealthCheckView.as_view(checks=[Sample("alpha"), Sample("beta"), Sample("gamma")], clock=lambda: NOW)
    response = endpoint(RequestFactory().get("/health/?format=uptime"))
    assert (response.status_code, response["Content-Type"]) == (200, "application/json")
    body = json.loads(response.content)
    assert body["windows"] == {"24h": 86400, "7d": 604800, "30d": 2592000}
    assert body["generated_at"] == "2030-01-31T00:00:00Z"
    alpha = body["checks"][NAMES["alpha"]]
    assert alpha["state"] == "ok"
    assert alpha["windows"]["30d"] == {
        **shares(ok=711, warning=6, error=2, stale=1, hours=720),
        "uptime": round(717 / 720, 6),
        "incidents": 2,
        "longest_outage_seconds": 7200.0,
    }
    assert body["checks"][NAMES["beta"]]["windows"]["7d"]["unknown"] == round(132 / 168, 6)
    assert body["checks"][NAMES["gamma"]]["windows"]["24h"]["unknown"] == 1.0
    assert body["endpoint"]["24h"]["unknown"] == 1.0  # gamma was never observed: the endpoint's time is unknown
    subset = json.loads(endpoint(RequestFactory().get("/health/?format=uptime&exclude=Sample(label='gamma')")).content)
    assert list(subset["checks"]) == [NAMES["alpha"], NAMES["beta"]]
    assert subset["endpoint"]["24h"]["ok"] == round(23 / 24, 6)


# -- manage.py health_check_report ---------------------------------------------------------------------


@pytest.fixture
def scripted_month(memory_store, settings):
    from health_check.journal import append_transitions
    from tests.scenarios import SPECS, snapshots

    settings.ROOT_URLCONF = "tests.testapp.urls_report"
    store = get_store()
    for snapshot in snapshots("fresh", now=NOW).values():
        store.write(snapshot)
    alpha = [entry(SPECS["alpha"].key, e.at, e.from_state, e.to_state) for e in A if e.kind == STATUS and e.at <= NOW]
    append_transitions(store, alpha, retention=200)
    append_transitions(store, [entry(SPECS["beta"].key, NOW - 36 * H, "pending", "ok")], retention=200)


def test_uptime__report_command_table(scripted_month, capsys):
    call_command("health_check_report", "report", "--days", "30")
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Uptime of report over the last 30 days (until 2030-01-31 00:00 UTC)"
    cells = [line.split() for line in lines[1:]]
    assert cells[0] == [
        "uptime",
        "ok",
        "warning",
        "error",
        "stale/pending",
        "maintenance",
        "unknown",
        "incidents",
        "longest",
        "outage",
    ]
    assert lines[2].split()[:2] == ["endpoint", "97.222"]  # 35 of 36 known hours: beta is unknown before
    alpha = lines[3]
    assert alpha.startswith("Sample(label='alpha')")
    assert alpha.split()[1:] == [
        "99.583", "%",  # 717 / 720
        "98.75", "%", "0.83", "%", "0.28", "%", "0.14", "%", "0.00", "%", "0.00", "%",
        "2", "2", "h",
    ]  # fmt: skip


def test_uptime__report_command_csv(scripted_month, capsys):
    import csv
    import io

    call_command("health_check_report", "report", "--days", "7", "--csv")
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [row["check"] for row in rows] == ["endpoint", "Sample(label='alpha')", "Sample(label='beta')"]
    alpha = rows[1]
    assert (float(alpha["ok"]), float(alpha["warning"]), float(alpha["uptime"])) == (
        round(161 / 168, 6),
        round(6 / 168, 6),
        round(167 / 168, 6),
    )
    assert (alpha["incidents"], alpha["longest_outage_seconds"]) == ("1", "3600.0")
    assert float(rows[2]["unknown"]) == round(132 / 168, 6)


def test_uptime__report_command_errors(scripted_month, capsys):
    for args, message in (
        (("nope",), "Could not resolve endpoint 'nope'"),
        (("report", "--days", "0"), "--days must be from 1 to 366, got 0."),
    ):
        with pytest.raises(SystemExit) as exited:
            call_command("health_check_report", *args)
        assert exited.value.code == 2
        assert message in capsys.readouterr().err


def test_uptime__openmetrics_gauges(scripted_month, client):
    """django_health_check_uptime_ratio{window=...} per check: the journal's figures; NaN when nothing is known."""
    import math

    from prometheus_client.parser import text_string_to_metric_families

    from health_check.views import HealthCheckView
    from tests.testapp.probes import Sample

    endpoint = HealthCheckView.as_view(checks=[Sample("alpha"), Sample("beta"), Sample("gamma")], clock=lambda: NOW)
    from django.test import RequestFactory

    body = endpoint(RequestFactory().get("/health/?format=openmetrics")).content.decode()
    (family,) = [f for f in text_string_to_metric_families(body) if f.name == "django_health_check_uptime_ratio"]
    assert family.type == "gauge"
    ratios = {(s.labels["label"], s.labels["window"]): s.value for s in family.samples}
    assert ratios[("alpha", "24h")] == pytest.approx(23 / 24, abs=1e-6)
    assert ratios[("alpha", "30d")] == pytest.approx(717 / 720, abs=1e-6)
    assert ratios[("beta", "7d")] == 1.0
    assert math.isnan(ratios[("gamma", "30d")])
    assert len(ratios) == 9


def test_uptime__daily_worst_state_of_the_last_30_days():
    from health_check.uptime import daily

    assert dict(daily(A, NOW))[NOW.date()] == "unknown"  # today has not begun: none of it is known
    later = NOW + datetime.timedelta(minutes=30)
    days = dict(daily(A, later))
    assert len(days) == 30
    today = NOW.date()  # 2030-01-31, half an hour of it
    assert days[today] == "ok"
    assert days[today - D] == "stale_or_pending"  # 12 h before "now": yesterday, 1 h stale
    assert days[today - 3 * D] == "warning"
    assert days[today - 10 * D] == "error"
    assert days[today - 9 * D] == "ok" and days[today - 29 * D] == "ok"
    assert set(dict(daily(B, NOW)).values()) == {"unknown", "ok"}
    assert (
        dict(daily(B, later))[today - 3 * D] == "unknown" and dict(daily(B, later))[today - 2 * D] == "ok"
    )  # from 12:00
