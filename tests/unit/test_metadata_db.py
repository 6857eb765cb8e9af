"""The SQLite helper (WAL, migrations) and the image/reference tables."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.metadata import Database, ImageMeta, ImageMetadata, open_db


def test_wal_and_incremental_migrations(tmp_path: Path) -> None:
    path = str(tmp_path / "m" / "x.db")
    db = open_db(path, ["CREATE TABLE a (x INTEGER);"])
    assert db.query_one("PRAGMA journal_mode")[0] == "wal"  # type: ignore[index]
    db.execute("INSERT INTO a VALUES (1)")
    db.close()
    db = open_db(path, ["CREATE TABLE a (x INTEGER);", "ALTER TABLE a ADD COLUMN y TEXT DEFAULT 'z';"])
    assert [tuple(r) for r in db.query("SELECT x, y FROM a")] == [(1, "z")]
    assert db.query_one("PRAGMA user_version")[0] == 2  # type: ignore[index]
    db.close()


def test_transaction_rolls_back(tmp_path: Path) -> None:
    db = Database(str(tmp_path / "t.db"), ["CREATE TABLE a (x INTEGER);"])
    with pytest.raises(RuntimeError), db.transaction() as c:
        c.execute("INSERT INTO a VALUES (1)")
        raise RuntimeError("boom")
    assert db.query("SELECT * FROM a") == []


def test_images_and_refs(tmp_path: Path) -> None:
    meta = ImageMetadata.open(str(tmp_path / "images.db"))
    a = ImageMeta("sha256:" + "a" * 64, "sha256:" + "1" * 64, 10, "t1", "", (4, 6))
    b = ImageMeta("sha256:" + "b" * 64, "sha256:" + "2" * 64, 20, "t2", "")
    assert meta.put_image(a) and meta.put_image(b)
    assert not meta.put_image(a)
    assert meta.get_image(a.id) == a
    assert meta.set_ref("docker.io/library/x:1", a.id, "tag", "now") is None
    assert meta.set_ref("docker.io/library/x:1", b.id, "tag", "later") == a.id
    assert meta.set_ref("docker.io/library/x:1", b.id, "tag", "later") is None
    assert [r.ref for r in meta.refs_for(b.id)] == ["docker.io/library/x:1"]
    assert meta.get_image(b.id).last_tag_time == "later"  # type: ignore[union-attr]
    assert meta.ids_with_prefix("sha256:aa") == [a.id]
    meta.delete_image(b.id)
    assert meta.get_ref("docker.io/library/x:1") is None  # refs go with their image
