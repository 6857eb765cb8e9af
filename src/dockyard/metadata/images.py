"""Image records and references (tags and digests) in SQLite."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass

from dockyard.metadata.db import Database, open_db

__all__ = ["IMAGE_MIGRATIONS", "ImageMeta", "ImageMetadata", "RefMeta"]

IMAGE_MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE images (
        id TEXT PRIMARY KEY,              -- sha256:<config digest>
        manifest_digest TEXT NOT NULL,    -- the manifest blob kept in the content store
        size INTEGER NOT NULL,            -- bytes of the unpacked layers
        layer_sizes TEXT NOT NULL DEFAULT '[]',  -- JSON list: bytes of each layer, bottom first
        created TEXT NOT NULL,            -- when this store first saw the image (RFC 3339)
        last_tag_time TEXT NOT NULL DEFAULT ''
    );
    CREATE TABLE refs (
        ref TEXT PRIMARY KEY,             -- normalised: docker.io/library/busybox:latest or name@sha256:...
        image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
        kind TEXT NOT NULL CHECK (kind IN ('tag', 'digest')),
        created TEXT NOT NULL
    );
    CREATE INDEX refs_by_image ON refs(image_id);
    """,
)


@dataclass(frozen=True)
class ImageMeta:
    id: str
    manifest_digest: str
    size: int
    created: str
    last_tag_time: str
    layer_sizes: tuple[int, ...] = ()


@dataclass(frozen=True)
class RefMeta:
    ref: str
    image_id: str
    kind: str
    created: str


class ImageMetadata:
    """Images and their references; one row per image, many refs per image."""

    def __init__(self, db: Database) -> None:
        self.db = db

    @classmethod
    def open(cls, path: str) -> ImageMetadata:
        return cls(open_db(path, IMAGE_MIGRATIONS))

    def put_image(self, meta: ImageMeta) -> bool:
        """Record an image; returns False (and changes nothing) when it is already known."""
        n = self.db.execute(
            "INSERT OR IGNORE INTO images (id, manifest_digest, size, layer_sizes, created, last_tag_time) "
            "VALUES (?,?,?,?,?,?)",
            (
                meta.id,
                meta.manifest_digest,
                meta.size,
                json.dumps(list(meta.layer_sizes)),
                meta.created,
                meta.last_tag_time,
            ),
        )
        return n > 0

    def get_image(self, image_id: str) -> ImageMeta | None:
        row = self.db.query_one("SELECT * FROM images WHERE id = ?", (image_id,))
        return _image(row) if row is not None else None

    def images(self) -> list[ImageMeta]:
        return [_image(r) for r in self.db.query("SELECT * FROM images ORDER BY created DESC, id")]

    def ids_with_prefix(self, prefix: str) -> list[str]:
        rows = self.db.query("SELECT id FROM images WHERE id >= ? AND id < ?", (prefix, prefix + "\uffff"))
        return [str(r["id"]) for r in rows]

    def delete_image(self, image_id: str) -> None:
        self.db.execute("DELETE FROM images WHERE id = ?", (image_id,))

    def set_ref(self, ref: str, image_id: str, kind: str, now: str) -> str | None:
        """Point ``ref`` at ``image_id``; returns the image it pointed at before, if another."""
        with self.db.transaction() as c:
            row = c.execute("SELECT image_id FROM refs WHERE ref = ?", (ref,)).fetchone()
            c.execute(
                "INSERT INTO refs (ref, image_id, kind, created) VALUES (?,?,?,?) "
                "ON CONFLICT(ref) DO UPDATE SET image_id = excluded.image_id, created = excluded.created",
                (ref, image_id, kind, now),
            )
            if kind == "tag":
                c.execute("UPDATE images SET last_tag_time = ? WHERE id = ?", (now, image_id))
        old = str(row["image_id"]) if row is not None else None
        return old if old != image_id else None

    def get_ref(self, ref: str) -> RefMeta | None:
        row = self.db.query_one("SELECT * FROM refs WHERE ref = ?", (ref,))
        return _ref(row) if row is not None else None

    def delete_ref(self, ref: str) -> bool:
        return self.db.execute("DELETE FROM refs WHERE ref = ?", (ref,)) > 0

    def refs_for(self, image_id: str) -> list[RefMeta]:
        return [_ref(r) for r in self.db.query("SELECT * FROM refs WHERE image_id = ? ORDER BY ref", (image_id,))]

    def refs(self) -> list[RefMeta]:
        return [_ref(r) for r in self.db.query("SELECT * FROM refs ORDER BY ref")]


def _image(r: sqlite3.Row) -> ImageMeta:
    return ImageMeta(
        id=str(r["id"]),
        manifest_digest=str(r["manifest_digest"]),
        size=int(r["size"]),
        created=str(r["created"]),
        last_tag_time=str(r["last_tag_time"]),
        layer_sizes=tuple(int(x) for x in json.loads(r["layer_sizes"] or "[]")),
    )


def _ref(r: sqlite3.Row) -> RefMeta:
    return RefMeta(
        ref=str(r["ref"]),
        image_id=str(r["image_id"]),
        kind=str(r["kind"]),
        created=str(r["created"]),
    )
