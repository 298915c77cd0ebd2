"""System checks: the whole message, hint and id of every health_check.E00x / W00x."""

from __future__ import annotations

import pytest
from django.core.checks import Error, Warning, run_checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from health_check.conf import DEFAULTS

MEMORY = {"STORE": "memory", "POLLER_AUTOSTART": False}
E001_HINT = "Set a non-empty string or remove the setting to disable authentication."


def ours() -> list[tuple[type, str, str | None, str]]:
    """(level class, message, hint, id) of every health_check message, in the order Django reports them."""
    return [(type(m), m.msg, m.hint, m.id) for m in run_checks() if (m.id or "").startswith("health_check.")]


def test_system_checks__test_project_is_clean(memory_store):
    """The test project's settings and URLconf raise no health_check message."""
    assert ours() == []


@pytest.mark.parametrize("token", ["", "   ", 123, None, b"bytes"])
def test_system_checks__e001_bad_token(settings, memory_store, token):
    """HEALTH_CHECK_AUTH_TOKEN that is not a non-empty string is E001, with django-health-check's wording."""
    settings.HEALTH_CHECK_AUTH_TOKEN = token
    assert ours() == [(Error, "HEALTH_CHECK_AUTH_TOKEN must be a non-empty string.", E001_HINT, "health_check.E001")]


def test_system_checks__e001_valid_token(settings, memory_store):
    """A non-empty token string raises no error (a short one is only warned about: W004)."""
    settings.HEALTH_CHECK_AUTH_TOKEN = "t0ken"
    assert [found[3] for found in ours()] == ["health_check.W004"]
    settings.HEALTH_CHECK_AUTH_TOKEN = "t0ken-long-enough-to-pass"
    assert ours() == []


def test_system_checks__e001_fails_check_command(settings, memory_store):
    """``manage.py check`` fails on E001 and prints message and hint."""
    settings.HEALTH_CHECK_AUTH_TOKEN = ""
    with pytest.raises(SystemCheckError) as raised:
        call_command("check")
    assert (f"?: (health_check.E001) HEALTH_CHECK_AUTH_TOKEN must be a non-empty string.\n\tHINT: {E001_HINT}") in str(
        raised.value
    )


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("STALE_AFTER_INTERVALS", 0, "a number above 0, e.g. 3"),
        ("STALE_AFTER_INTERVALS", "3", "a number above 0, e.g. 3"),
        ("WARNINGS_AS_ERRORS", "no", "True or False"),
        ("POLLER_AUTOSTART", 1, "True or False"),
        ("POLL_JITTER", 2, "0 to 1"),
        ("MAX_STUCK_RUNS", 0, "a positive integer"),
        ("POLLER_THREADS", True, "a positive integer"),
        ("AUTH_TOKEN", " ", "a non-empty string, a list of them (tokens being rotated) or None"),
        ("STORE_LOCATION", "", "a directory path or None"),
    ],
)
def test_system_checks__e003_bad_value(settings, memory_store, key, value, expected):
    """A HEALTH_CHECK value of the wrong type or range is E003: value (never a token's), what is expected, the default."""
    settings.HEALTH_CHECK = {**MEMORY, key: value}
    shown = "a str" if key == "AUTH_TOKEN" else repr(value)
    hint = (
        "Set a non-empty string, or None for no token. Until then every request is refused."
        if key == "AUTH_TOKEN"
        else f"Fix the value or remove the key to use the default ({DEFAULTS[key]!r}). Until then the default is used."
    )
    assert ours() == [(Error, f'HEALTH_CHECK["{key}"] is {shown}, expected {expected}.', hint, "health_check.E003")]


def test_system_checks__e003_unknown_store(settings, memory_store):
    """A STORE that is neither a known name nor a dotted path is E003."""
    settings.HEALTH_CHECK = {**MEMORY, "STORE": "redis"}
    assert ours() == [
        (
            Error,
            'HEALTH_CHECK["STORE"] is "redis", which is not a store.',
            "A Redis store is named by its URL: redis://host:6379/0 (rediss:// for TLS).",
            "health_check.E003",
        )
    ]


def test_system_checks__e003_not_a_dict(settings, memory_store):
    """HEALTH_CHECK that is not a dict is E003 and nothing else is checked."""
    settings.HEALTH_CHECK = [("STORE", "memory")]
    assert ours() == [
        (
            Error,
            "HEALTH_CHECK must be a dict, got list.",
            'Write HEALTH_CHECK = {"STORE": "diskcache", ...}; see the settings reference.',
            "health_check.E003",
        )
    ]


@pytest.mark.parametrize(
    ("key", "suggestion"),
    [
        ("STALE_AFTER_INTERVAL", "STALE_AFTER_INTERVALS"),
        ("WARNING_AS_ERRORS", "WARNINGS_AS_ERRORS"),
        ("store", "STORE"),
        ("AUTH_TOKN", "AUTH_TOKEN"),
    ],
)
def test_system_checks__w001_typo(settings, memory_store, key, suggestion):
    """An unknown key close to a known one is W001 with "Did you mean" naming it."""
    settings.HEALTH_CHECK = {**MEMORY, key: 1}
    assert ours() == [
        (
            Warning,
            f'HEALTH_CHECK["{key}"] is not a known setting and is ignored.',
            f'Did you mean "{suggestion}"?',
            "health_check.W001",
        )
    ]


def test_system_checks__w001_unknown_key(settings, memory_store):
    """An unknown key far from every known one lists the known keys instead."""
    settings.HEALTH_CHECK = {**MEMORY, "XYZZY": 1}
    assert ours() == [
        (
            Warning,
            'HEALTH_CHECK["XYZZY"] is not a known setting and is ignored.',
            f"Known keys: {', '.join(sorted(DEFAULTS))}.",
            "health_check.W001",
        )
    ]


@pytest.mark.parametrize("key", ["DISK_USAGE_MAX", "MEMORY_MIN", "SUBSETS"])
def test_system_checks__w002_legacy_key(settings, memory_store, key):
    """A django-health-check 3.x key is W002: ignored, thresholds are check arguments now."""
    settings.HEALTH_CHECK = {**MEMORY, key: 90}
    assert ours() == [
        (
            Warning,
            f'HEALTH_CHECK["{key}"] is a django-health-check 3.x setting and is ignored.',
            "Thresholds are check arguments now, e.g. "
            '("health_check.contrib.psutil.Disk", {"max_disk_usage_percent": 90}).',
            "health_check.W002",
        )
    ]


def test_system_checks__warnings_do_not_fail_check_command(settings, memory_store, capsys):
    """W001/W002 are reported by ``manage.py check`` without failing it."""
    settings.HEALTH_CHECK = {**MEMORY, "SUBSETS": {}, "STOR": "memory"}
    call_command("check")
    err = capsys.readouterr().err
    assert '?: (health_check.W002) HEALTH_CHECK["SUBSETS"] is a django-health-check 3.x setting' in err
    assert (
        '?: (health_check.W001) HEALTH_CHECK["STOR"] is not a known setting and is ignored.\n'
        '\tHINT: Did you mean "STORE"?'
    ) in err


def test_system_checks__e004_store_cannot_open(settings, tmp_path, memory_store):
    """A STORE_LOCATION that cannot be created is E004, naming the location and what to do."""
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    location = str(blocker / "store")
    settings.HEALTH_CHECK = {"STORE": "diskcache", "STORE_LOCATION": location, "POLLER_AUTOSTART": False}
    messages = ours()
    assert [(level, hint, id_) for level, _, hint, id_ in messages] == [
        (
            Error,
            'Set HEALTH_CHECK["STORE_LOCATION"] to a directory writable by the web and poller processes, '
            'or fix HEALTH_CHECK["STORE"]. Until then every health endpoint answers 500 with this message.',
            "health_check.E004",
        )
    ]
    assert messages[0][1] == (
        f"The health check snapshot store cannot be opened: cannot open the diskcache store at {location}: "
        f"[Errno 20] Not a directory: '{location}'. "
        'Set HEALTH_CHECK["STORE_LOCATION"] to a directory every web and poller process can write.'
    )


def test_system_checks__e004_not_reported_with_settings_error(settings, tmp_path, memory_store):
    """While a settings error is reported, the store is not opened (the settings error says it better)."""
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    settings.HEALTH_CHECK = {"STORE": "diskcache", "STORE_LOCATION": str(blocker / "x"), "POLL_JITTER": 5}
    assert [id_ for *_, id_ in ours()] == ["health_check.E003"]


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("JOURNAL_RETENTION", 0, "a positive integer (transitions kept per check)"),
        ("JOURNAL_MAX_AGE", 30, "a positive timedelta, e.g. timedelta(days=30)"),
        ("ANONYMOUS_DETAIL", "everything", '"full", "names" or "status"'),
        ("POLLER_SCOPES", [], 'a non-empty list of "host" and/or "fleet"'),
    ],
)
def test_system_checks__journal_and_redaction_settings_validated(settings, key, value, expected):
    """A wrong JOURNAL_RETENTION or ANONYMOUS_DETAIL is health_check.E003 naming the value and what is expected."""
    from health_check.conf import DEFAULTS
    from health_check.system_checks import check_settings

    settings.HEALTH_CHECK = {"STORE": "memory", "POLLER_AUTOSTART": False, key: value}
    messages = [m for m in check_settings() if m.id == "health_check.E003"]
    until = (
        'Until then anonymous requests see "status".'  # fails closed, never open
        if key == "ANONYMOUS_DETAIL"
        else "Until then the default is used."
    )
    default = '"full"' if key == "ANONYMOUS_DETAIL" else repr(DEFAULTS[key])
    assert [(m.msg, m.hint) for m in messages] == [
        (
            f'HEALTH_CHECK["{key}"] is {value!r}, expected {expected}.',
            f"Fix the value or remove the key to use the default ({default}). {until}",
        )
    ]


# -- heartbeats -------------------------------------------------------------------------------------------

E007_HINT = (
    'Set HEALTH_CHECK["HEARTBEAT_TOKEN"] to a long random token (e.g. from an environment variable), or pass '
    "token= to HeartbeatView.as_view(). Jobs send it as Authorization: Bearer <token>."
)


def test_system_checks__e007_heartbeat_view_without_a_token(settings, memory_store):
    """A mounted HeartbeatView with no token refuses every beat: E007 for each, naming its route."""
    settings.ROOT_URLCONF = "tests.testapp.urls_heartbeat"
    assert ours() == [
        (
            Error,
            f"Heartbeat endpoint at {route} has no token: it refuses every beat (403).",
            E007_HINT,
            "health_check.E007",
        )
        for route in ("/heartbeat/<str:name>/", "/tiny/<str:name>/")
    ]
    settings.HEALTH_CHECK = {**MEMORY, "HEARTBEAT_TOKEN": "heartbeat-token-long-enough"}
    assert ours() == []


def test_system_checks__w004_and_e003_heartbeat_token(settings, memory_store):
    """A short HEARTBEAT_TOKEN is W004 (never shown); one of the wrong type is E003 and fails closed."""
    settings.ROOT_URLCONF = "tests.testapp.urls_heartbeat"
    settings.HEALTH_CHECK = {**MEMORY, "HEARTBEAT_TOKEN": "short"}
    assert ours() == [
        (
            Warning,
            'HEALTH_CHECK["HEARTBEAT_TOKEN"] is 5 characters long, shorter than 16: it can be guessed.',
            "Use a long random token, e.g. the output of python -c 'import secrets; print(secrets.token_urlsafe(32))'.",
            "health_check.W004",
        )
    ]
    settings.HEALTH_CHECK = {**MEMORY, "HEARTBEAT_TOKEN": 12345}
    assert ours() == [
        (
            Error,
            'HEALTH_CHECK["HEARTBEAT_TOKEN"] is a int, expected a non-empty string, a list of them (tokens being '
            "rotated) or None.",
            "Set a non-empty string, or None when no HeartbeatView is mounted. Until then every POSTed beat is refused.",
            "health_check.E003",
        )
    ]
