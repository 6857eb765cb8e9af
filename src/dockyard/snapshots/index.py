"""The snapshot index (SQLite): key -> numeric directory id, kind and parent."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from dockyard import errors
from dockyard.metadata.db import open_db

__all__ = ["SnapshotIndex", "SnapshotInfo"]

_MIGRATIONS = (
    """
    CREATE TABLE snapshots (
        id INTEGER PRIMARY KEY AUTOINCREMENT,  -- names the directory, kept short for lowerdir=
        key TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL CHECK (kind IN ('active', 'view', 'committed')),
        parent TEXT,
        created TEXT NOT NULL
    );
    CREATE INDEX snapshots_by_parent ON snapshots(parent);
    """,
)


@dataclass(frozen=True)
class SnapshotInfo:
    id: int
    key: str
    kind: str
    parent: str | None


class SnapshotIndex:
    def __init__(self, path: str) -> None:
        self.db = open_db(path, _MIGRATIONS)

    def get(self, key: str) -> SnapshotInfo:
        row = self.db.query_one("SELECT id, key, kind, parent FROM snapshots WHERE key = ?", (key,))
        if row is None:
            raise errors.NotFound(f"snapshot {key} does not exist")
        return SnapshotInfo(int(row["id"]), str(row["key"]), str(row["kind"]), row["parent"])

    def find(self, key: str) -> SnapshotInfo | None:
        try:
            return self.get(key)
        except errors.NotFound:
            return None

    def create(self, key: str, kind: str, parent: str | None) -> SnapshotInfo:
        now = datetime.now(UTC).isoformat()
        with self.db.transaction() as c:
            if c.execute("SELECT 1 FROM snapshots WHERE key = ?", (key,)).fetchone():
                raise errors.Conflict(f"snapshot {key} already exists")
            if parent is not None:
                row = c.execute("SELECT kind FROM snapshots WHERE key = ?", (parent,)).fetchone()
                if row is None:
                    raise errors.NotFound(f"parent snapshot {parent} does not exist")
                if row["kind"] != "committed":
                    raise errors.InvalidArgument(f"parent snapshot {parent} is not committed")
            cur = c.execute(
                "INSERT INTO snapshots (key, kind, parent, created) VALUES (?,?,?,?)", (key, kind, parent, now)
            )
            sid = int(cur.lastrowid or 0)
        return SnapshotInfo(sid, key, kind, parent)

    def commit(self, name: str, key: str) -> SnapshotInfo:
        with self.db.transaction() as c:
            row = c.execute("SELECT kind FROM snapshots WHERE key = ?", (key,)).fetchone()
            if row is None:
                raise errors.NotFound(f"snapshot {key} does not exist")
            if row["kind"] != "active":
                raise errors.InvalidArgument(f"snapshot {key} is not active")
            if c.execute("SELECT 1 FROM snapshots WHERE key = ?", (name,)).fetchone():
                raise errors.Conflict(f"snapshot {name} already exists")
            c.execute("UPDATE snapshots SET key = ?, kind = 'committed' WHERE key = ?", (name, key))
        return self.get(name)

    def delete(self, key: str) -> SnapshotInfo:
        with self.db.transaction() as c:
            row = c.execute("SELECT id, key, kind, parent FROM snapshots WHERE key = ?", (key,)).fetchone()
            if row is None:
                raise errors.NotFound(f"snapshot {key} does not exist")
            if c.execute("SELECT 1 FROM snapshots WHERE parent = ? LIMIT 1", (key,)).fetchone():
                raise errors.InUse(f"snapshot {key} is the parent of other snapshots")
            c.execute("DELETE FROM snapshots WHERE key = ?", (key,))
        return SnapshotInfo(int(row["id"]), str(row["key"]), str(row["kind"]), row["parent"])

    def chain(self, key: str) -> list[SnapshotInfo]:
        """``key`` and its ancestors, nearest first."""
        out: list[SnapshotInfo] = []
        cur: str | None = key
        while cur is not None:
            info = self.get(cur)
            out.append(info)
            cur = info.parent
        return out

    def keys(self) -> list[str]:
        return [str(r["key"]) for r in self.db.query("SELECT key FROM snapshots ORDER BY id")]

    def ids(self) -> set[int]:
        return {int(r["id"]) for r in self.db.query("SELECT id FROM snapshots")}
