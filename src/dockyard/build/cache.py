"""The build cache: (parent state, instruction, inputs) -> the resulting image config and layers.

Persisted in SQLite so it survives daemon restarts. A hit is only used when every layer
blob it names can still be found (see ``BuildCache.get``'s ``available`` check).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from dockyard.metadata.db import open_db
from dockyard.oci.digest import Digest
from dockyard.oci.image import Descriptor

__all__ = ["BuildCache", "CacheEntry", "cache_key"]

_MIGRATIONS = (
    """
    CREATE TABLE build_cache (
        key TEXT PRIMARY KEY,
        config BLOB NOT NULL,
        layers TEXT NOT NULL,
        created TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
    );
    """,
)


@dataclass(frozen=True)
class CacheEntry:
    config: bytes
    layers: tuple[Descriptor, ...]


def cache_key(parent: str, instruction: str, inputs: Any) -> str:
    """A stable key: the parent state's ID, the instruction text and its inputs (JSON-able)."""
    blob = json.dumps([parent, instruction, inputs], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


def _layers_json(layers: Sequence[Descriptor]) -> str:
    return json.dumps([{"mediaType": d.media_type, "digest": str(d.digest), "size": d.size} for d in layers])


def _layers_from(text: str) -> tuple[Descriptor, ...]:
    return tuple(
        Descriptor(str(o["mediaType"]), Digest.parse(str(o["digest"])), int(o["size"])) for o in json.loads(text)
    )


class BuildCache:
    def __init__(self, path: str) -> None:
        self._db = open_db(path, _MIGRATIONS)

    def get(self, key: str, available: Callable[[Digest], bool]) -> CacheEntry | None:
        row = self._db.query_one("SELECT config, layers FROM build_cache WHERE key = ?", (key,))
        if row is None:
            return None
        entry = CacheEntry(bytes(row["config"]), _layers_from(str(row["layers"])))
        if not all(available(d.digest) for d in entry.layers):
            self._db.execute("DELETE FROM build_cache WHERE key = ?", (key,))
            return None
        return entry

    def put(self, key: str, entry: CacheEntry) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO build_cache (key, config, layers) VALUES (?, ?, ?)",
            (key, entry.config, _layers_json(entry.layers)),
        )

    def clear(self) -> int:
        return self._db.execute("DELETE FROM build_cache")

    def close(self) -> None:
        self._db.close()
