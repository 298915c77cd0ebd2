"""The application tier's Django services on real backends: Database on MariaDB, Cache on the database cache.

MariaDB is reached through PyMySQL posing as MySQLdb (mysqlclient needs a C toolchain and headers
these machines lack). The aliases are added for these tests only, so the rest of the suite and
pytest-django's test-database setup never see them; the checks use the real ``test`` database.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.core.management import call_command
from django.db import connections

from health_check import Cache, Database
from tests.conftest import require_service


@pytest.fixture
def database_alias(django_db_blocker) -> Iterator:
    """Add a MariaDB alias (``NAME`` as given) to ``connections`` for one test; removed afterwards."""
    pymysql = pytest.importorskip("pymysql")
    pymysql.install_as_MySQLdb()
    host, port = require_service("mariadb")
    added: list[str] = []

    def add(alias: str, name: str) -> str:
        configured = connections.configure_settings(
            {
                "default": {"ENGINE": "django.db.backends.dummy"},
                alias: {
                    "ENGINE": "django.db.backends.mysql",
                    "NAME": name,
                    "USER": "root",
                    "PASSWORD": "",
                    "HOST": host,
                    "PORT": str(port),
                    "OPTIONS": {"connect_timeout": 3},
                },
            }
        )
        connections.settings[alias] = configured[alias]
        added.append(alias)
        return alias

    with django_db_blocker.unblock():
        yield add
    for alias in added:
        if hasattr(connections._connections, alias):
            connections[alias].close()
            delattr(connections._connections, alias)
        del connections.settings[alias]


def test_database__mariadb_ok(run_check, database_alias):
    """SELECT 1 on the local MariaDB through PyMySQL: OK."""
    snapshot = run_check(Database(alias=database_alias("mariadb", "test")))
    assert (snapshot.status, snapshot.message) == ("ok", "OK")


def test_database__mariadb_unknown_database(run_check, database_alias):
    """A database name the server does not have: one line naming the alias and the server's reason."""
    snapshot = run_check(Database(alias=database_alias("mariadb_missing", "hs_no_such_database")))
    assert (
        snapshot.message
        == "Unavailable: Database 'mariadb_missing': (1049, \"Unknown database 'hs_no_such_database'\")"
    )


@pytest.mark.django_db(transaction=True)
def test_cache__database_cache_ok(run_check, settings):
    """Django's DatabaseCache, table created with createcachetable: set, get and delete work."""
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        "db": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "hs_cache_table"},
    }
    call_command("createcachetable", "hs_cache_table", verbosity=0)
    snapshot = run_check(Cache(alias="db"))
    assert (snapshot.status, snapshot.message) == ("ok", "OK")


@pytest.mark.django_db(transaction=True)
def test_cache__database_cache_without_table(run_check, settings):
    """A DatabaseCache whose table was never created fails, naming the alias."""
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        "db": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "hs_missing_cache_table"},
    }
    snapshot = run_check(Cache(alias="db"))
    assert snapshot.message == "Unavailable: Cache 'db': no such table: hs_missing_cache_table"
