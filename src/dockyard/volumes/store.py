"""Volume metadata and the containers using each volume, in SQLite (WAL).

The ``users`` rows are the reference counts: a volume is in use while any
container has a row for it, and they survive daemon restarts with the rest.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dockyard.metadata.db import open_db

__all__ = ["UserRow", "VolumeRow", "VolumeStore"]

_MIGRATIONS = (
    """
    CREATE TABLE volumes (
        name TEXT PRIMARY KEY,
        driver TEXT NOT NULL,
        created_at TEXT NOT NULL,
        labels TEXT NOT NULL,
        options TEXT NOT NULL
    );
    CREATE TABLE users (
        container_id TEXT NOT NULL,
        destination TEXT NOT NULL,
        volume TEXT,
        copied INTEGER NOT NULL DEFAULT 0,
        data TEXT NOT NULL,
        PRIMARY KEY (container_id, destination)
    );
    CREATE INDEX users_by_volume ON users(volume);
    """,
)


@dataclass(frozen=True)
class VolumeRow:
    name: str
    driver: str
    created_at: str
    labels: Mapping[str, str]
    options: Mapping[str, str]


@dataclass(frozen=True)
class UserRow:
    """One mount of one container; ``volume`` is empty for binds and tmpfs."""

    container_id: str
    destination: str
    volume: str
    copied: bool
    data: Mapping[str, Any]


class VolumeStore:
    def __init__(self, path: str) -> None:
        self._db = open_db(path, _MIGRATIONS)

    def close(self) -> None:
        self._db.close()

    # --- volumes ------------------------------------------------------------------

    def add_volume(self, row: VolumeRow) -> None:
        self._db.execute(
            "INSERT INTO volumes (name, driver, created_at, labels, options) VALUES (?, ?, ?, ?, ?)",
            (row.name, row.driver, row.created_at, json.dumps(dict(row.labels)), json.dumps(dict(row.options))),
        )

    def get_volume(self, name: str) -> VolumeRow | None:
        r = self._db.query_one("SELECT * FROM volumes WHERE name = ?", (name,))
        return None if r is None else _volume(r)

    def volumes(self) -> list[VolumeRow]:
        return [_volume(r) for r in self._db.query("SELECT * FROM volumes ORDER BY name")]

    def delete_volume(self, name: str) -> None:
        self._db.execute("DELETE FROM volumes WHERE name = ?", (name,))

    # --- users --------------------------------------------------------------------

    def add_users(self, rows: list[UserRow]) -> None:
        with self._db.transaction() as conn:
            for u in rows:
                conn.execute(
                    "INSERT OR REPLACE INTO users (container_id, destination, volume, copied, data) VALUES (?,?,?,?,?)",
                    (u.container_id, u.destination, u.volume or None, int(u.copied), json.dumps(dict(u.data))),
                )

    def users_of_container(self, container_id: str) -> list[UserRow]:
        rows = self._db.query("SELECT * FROM users WHERE container_id = ? ORDER BY rowid", (container_id,))
        return [_user(r) for r in rows]

    def users_of_volume(self, name: str) -> list[str]:
        """IDs of the containers using the volume, in the order they started using it."""
        rows = self._db.query("SELECT DISTINCT container_id FROM users WHERE volume = ? ORDER BY rowid", (name,))
        return [str(r["container_id"]) for r in rows]

    def ref_counts(self) -> dict[str, int]:
        rows = self._db.query(
            "SELECT volume, COUNT(DISTINCT container_id) AS n FROM users WHERE volume IS NOT NULL GROUP BY volume"
        )
        return {str(r["volume"]): int(r["n"]) for r in rows}

    def mark_copied(self, container_id: str, destination: str) -> None:
        self._db.execute(
            "UPDATE users SET copied = 1 WHERE container_id = ? AND destination = ?", (container_id, destination)
        )

    def release_container(self, container_id: str) -> list[UserRow]:
        """Drop the container's rows; returns what it held."""
        with self._db.transaction() as conn:
            rows = conn.execute("SELECT * FROM users WHERE container_id = ? ORDER BY rowid", (container_id,)).fetchall()
            conn.execute("DELETE FROM users WHERE container_id = ?", (container_id,))
        return [_user(r) for r in rows]

    def container_ids(self) -> set[str]:
        return {str(r["container_id"]) for r in self._db.query("SELECT DISTINCT container_id FROM users")}


def _volume(r: Any) -> VolumeRow:
    return VolumeRow(
        name=r["name"],
        driver=r["driver"],
        created_at=r["created_at"],
        labels=json.loads(r["labels"]),
        options=json.loads(r["options"]),
    )


def _user(r: Any) -> UserRow:
    return UserRow(
        container_id=r["container_id"],
        destination=r["destination"],
        volume=r["volume"] or "",
        copied=bool(r["copied"]),
        data=json.loads(r["data"]),
    )
