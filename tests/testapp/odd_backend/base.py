"""A PostgreSQL backend whose cursors answer ``SELECT 1`` with 2, like a misbehaving proxy in front of the server.

Only tests/test_checks.py uses it, to see what Database reports when the row is not ``(1,)``.
"""

from __future__ import annotations

from typing import Any

from django.db.backends.postgresql import base


class _Rewriting:
    """Delegates to a driver cursor, turning ``SELECT 1`` into ``SELECT 2`` on the way."""

    def __init__(self, cursor: Any) -> None:
        self._cursor = cursor

    def execute(self, sql: str, params: Any = None) -> Any:
        return self._cursor.execute("SELECT 2" if sql.strip() == "SELECT 1" else sql, params)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)


class DatabaseWrapper(base.DatabaseWrapper):
    def create_cursor(self, name: str | None = None) -> Any:
        return _Rewriting(super().create_cursor(name))
