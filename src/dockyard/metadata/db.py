"""SQLite databases in WAL mode with ordered, append-only migrations.

One ``Database`` per file; every method takes an internal lock so a single
connection can be shared by the event loop and worker threads.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

__all__ = ["Database", "open_db"]


class Database:
    """A thread-safe wrapper over one SQLite connection.

    ``migrations`` are SQL scripts applied in order; ``PRAGMA user_version``
    records how many ran, so adding a script later upgrades existing files.
    """

    def __init__(self, path: str, migrations: Sequence[str] = ()) -> None:
        self.path = path
        parent = os.path.dirname(path)
        if parent:
            os.makedirs(parent, exist_ok=True)
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA foreign_keys=ON")
        self._migrate(migrations)

    def _migrate(self, migrations: Sequence[str]) -> None:
        with self._lock:
            done = int(self._conn.execute("PRAGMA user_version").fetchone()[0])
            for n, script in enumerate(migrations[done:], start=done + 1):
                # executescript commits implicitly; wrap each script and its version bump together.
                self._conn.executescript(f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version={n};\nCOMMIT;")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Run statements atomically; rolled back if the block raises."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement in its own transaction; returns the affected row count."""
        with self._lock:
            return self._conn.execute(sql, params).rowcount

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    def query_one(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        with self._lock:
            row: sqlite3.Row | None = self._conn.execute(sql, params).fetchone()
            return row

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def open_db(path: str, migrations: Sequence[str] = ()) -> Database:
    """Open (creating if needed) the database at ``path`` and bring its schema up to date."""
    return Database(path, migrations)
