"""Container records and their crash-safe store (SQLite in WAL mode).

A record is a frozen value; every state change writes a new one in a single
transaction, so a daemon killed at any point restarts into a consistent store.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from dockyard.errors import ContainerNotFound, InvalidArgument, NameConflict
from dockyard.metadata.db import open_db

__all__ = ["ZERO_TIME", "ContainerRecord", "ContainerState", "ContainerStore"]

ZERO_TIME = "0001-01-01T00:00:00Z"


@dataclass(frozen=True)
class ContainerState:
    status: str = "created"  # created | running | paused | restarting | removing | exited | dead
    pid: int = 0
    exit_code: int = 0
    error: str = ""
    oom_killed: bool = False
    started_at: str = ZERO_TIME
    finished_at: str = ZERO_TIME

    @property
    def running(self) -> bool:
        return self.status in ("running", "paused", "restarting")

    def to_json(self) -> dict[str, Any]:
        """The ``State`` object of container inspect."""
        return {
            "Status": self.status,
            "Running": self.status in ("running", "paused"),
            "Paused": self.status == "paused",
            "Restarting": self.status == "restarting",
            "OOMKilled": self.oom_killed,
            "Dead": self.status == "dead",
            "Pid": self.pid if self.status in ("running", "paused") else 0,
            "ExitCode": self.exit_code,
            "Error": self.error,
            "StartedAt": self.started_at,
            "FinishedAt": self.finished_at,
        }


@dataclass(frozen=True)
class ContainerRecord:
    id: str
    name: str  # without the leading slash
    created: str
    image: str  # as the user named it
    image_id: str
    config: Mapping[str, Any]  # inspect's Config
    host_config: Mapping[str, Any]  # inspect's HostConfig
    path: str = ""
    args: tuple[str, ...] = ()
    state: ContainerState = field(default_factory=ContainerState)
    restart_count: int = 0
    runtime: str = "dockyard-runtime"
    snapshot_parent: str | None = None  # chain ID of the image's top layer
    log_path: str = ""
    hostname_path: str = ""
    hosts_path: str = ""
    resolv_conf_path: str = ""
    bundle: str = ""
    state_dir: str = ""
    manually_stopped: bool = False
    # inspect's Mounts (volumes, binds, tmpfs) as decided at create by the volume service
    mount_points: tuple[Mapping[str, Any], ...] = ()
    # inspect's NetworkSettings as kept by the network service (endpoints, addresses, ports)
    network_settings: Mapping[str, Any] = field(default_factory=dict)
    exec_ids: tuple[str, ...] = ()
    health: Mapping[str, Any] | None = None  # State.Health when the container has a healthcheck

    def with_state(self, **changes: Any) -> ContainerRecord:
        return replace(self, state=replace(self.state, **changes))

    def to_row(self) -> str:
        d = asdict(self)
        d["args"] = list(self.args)
        d["mount_points"] = list(self.mount_points)
        d["exec_ids"] = list(self.exec_ids)
        return json.dumps(d, separators=(",", ":"))

    @classmethod
    def from_row(cls, text: str) -> ContainerRecord:
        d = json.loads(text)
        d["state"] = ContainerState(**d.get("state", {}))
        d["args"] = tuple(d.get("args", ()))
        d["mount_points"] = tuple(d.get("mount_points", ()))
        d["exec_ids"] = tuple(d.get("exec_ids", ()))
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in d.items() if k in known})


_MIGRATIONS = (
    """
    CREATE TABLE containers (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        data TEXT NOT NULL
    );
    """,
)


class ContainerStore:
    """Records by ID with unique names; lookups by full ID, name or unique ID prefix."""

    def __init__(self, path: str) -> None:
        self._db = open_db(path, _MIGRATIONS)

    def close(self) -> None:
        self._db.close()

    def add(self, rec: ContainerRecord) -> None:
        try:
            self._db.execute(
                "INSERT INTO containers (id, name, data) VALUES (?, ?, ?)", (rec.id, rec.name, rec.to_row())
            )
        except sqlite3.IntegrityError:
            owner = self._db.query_one("SELECT id FROM containers WHERE name = ?", (rec.name,))
            if owner:
                raise NameConflict(
                    f'Conflict. The container name "/{rec.name}" is already in use by container "{owner[0]}". '
                    "You have to remove (or rename) that container to be able to reuse that name."
                ) from None
            raise InvalidArgument(f"container {rec.id} already exists") from None

    def put(self, rec: ContainerRecord) -> None:
        """Replace an existing record (state changes, renames)."""
        try:
            n = self._db.execute(
                "UPDATE containers SET name = ?, data = ? WHERE id = ?", (rec.name, rec.to_row(), rec.id)
            )
        except sqlite3.IntegrityError:
            raise NameConflict(f'Conflict. The container name "/{rec.name}" is already in use.') from None
        if n == 0:
            raise ContainerNotFound(f"No such container: {rec.id}")

    def delete(self, cid: str) -> None:
        self._db.execute("DELETE FROM containers WHERE id = ?", (cid,))

    def name_taken(self, name: str) -> bool:
        return self._db.query_one("SELECT 1 FROM containers WHERE name = ?", (name,)) is not None

    def all(self) -> Iterator[ContainerRecord]:
        for row in self._db.query("SELECT data FROM containers"):
            yield ContainerRecord.from_row(row[0])

    def get(self, ref: str) -> ContainerRecord:
        """Docker's lookup order: full ID, exact name, then unique ID prefix."""
        if not ref:
            raise ContainerNotFound("No such container: ")
        key = ref[1:] if ref.startswith("/") else ref
        row = self._db.query_one("SELECT data FROM containers WHERE id = ?", (key,))
        if row is None:
            row = self._db.query_one("SELECT data FROM containers WHERE name = ?", (key,))
        if row is None and key and all(c in "0123456789abcdef" for c in key):
            rows = self._db.query("SELECT data FROM containers WHERE id >= ? AND id < ? LIMIT 2", (key, key + "g"))
            if len(rows) > 1:
                raise InvalidArgument(f"Multiple IDs found with provided prefix: {key}")
            row = rows[0] if rows else None
        if row is None:
            raise ContainerNotFound(f"No such container: {ref}")
        return ContainerRecord.from_row(row[0])
