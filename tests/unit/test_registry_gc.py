"""Garbage collection: marks from tags, indexes and referrers; sweeps the rest; respects the grace period."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from dockyard.oci import Digest
from dockyard.registry.gc import collect
from dockyard.registry.main import gc_main
from dockyard.registry.storage import FilesystemDriver
from dockyard.registry.store import RegistryStore, blob_key

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data


def push(s: RegistryStore, name: str, data: bytes) -> Digest:
    uid = s.start_upload(name)
    asyncio.run(s.append_upload(name, uid, _one(data)))
    d = Digest.from_bytes(data)
    s.finish_upload(name, uid, d)
    return d


def image(s: RegistryStore, name: str, tag: str | None, subject: Digest | None = None) -> tuple[Digest, list[Digest]]:
    cfg, layer = os.urandom(16), os.urandom(32)
    cd, ld = push(s, name, cfg), push(s, name, layer)
    m: dict[str, object] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": str(cd), "size": 16},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": str(ld), "size": 32}],
    }
    if subject is not None:
        m["subject"] = {"mediaType": OCI_MANIFEST, "digest": str(subject), "size": 1}
    body = json.dumps(m).encode()
    d = Digest.from_bytes(body)
    s.put_manifest(name, tag or d, body, OCI_MANIFEST)
    return d, [cd, ld]


def age_everything(root: Path, seconds: float = 7200) -> None:
    for p in (root / "blobs").rglob("*"):
        st = p.stat()
        os.utime(p, (st.st_atime - seconds, st.st_mtime - seconds))


@pytest.fixture
def store(tmp_path: Path) -> RegistryStore:
    return RegistryStore(FilesystemDriver(tmp_path))


def test_unreferenced_blobs_are_swept_referenced_kept(store: RegistryStore, tmp_path: Path) -> None:
    kept, kept_blobs = image(store, "r", "v1")
    orphan = push(store, "r", b"orphan")
    age_everything(tmp_path)
    dry = collect(store, dry_run=True)
    assert dry.deleted_blobs == [orphan]
    assert (tmp_path / blob_key(orphan)).exists()
    result = collect(store)
    assert result.deleted_blobs == [orphan]
    assert not (tmp_path / blob_key(orphan)).exists()
    for d in [kept, *kept_blobs]:
        assert (tmp_path / blob_key(d)).exists()
    assert store.get_manifest("r", "v1").digest == kept


def test_delete_untagged_keeps_index_children_and_referrers(store: RegistryStore, tmp_path: Path) -> None:
    child, child_blobs = image(store, "r", None)
    index = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [{"mediaType": OCI_MANIFEST, "digest": str(child), "size": 1}],
        }
    ).encode()
    store.put_manifest("r", "multi", index, OCI_INDEX)
    sig, sig_blobs = image(store, "r", None, subject=child)
    untagged, untagged_blobs = image(store, "r", None)
    age_everything(tmp_path)
    plain = collect(store)
    assert plain.deleted_blobs == [] and plain.deleted_manifests == []
    result = collect(store, delete_untagged=True)
    assert result.deleted_manifests == [("r", untagged)]
    assert set(result.deleted_blobs) == {untagged, *untagged_blobs}
    for d in [child, sig, *child_blobs, *sig_blobs]:
        assert (tmp_path / blob_key(d)).exists()


def test_fresh_blobs_survive_the_grace_period(store: RegistryStore, tmp_path: Path) -> None:
    # A blob whose upload just finished but whose manifest is not pushed yet.
    fresh = push(store, "r", b"in flight")
    in_progress = store.start_upload("r")
    assert collect(store).deleted_blobs == []
    assert (tmp_path / blob_key(fresh)).exists()
    assert store.upload_ids() == [in_progress]
    assert collect(store, grace=0).deleted_blobs == [fresh]


def test_gc_command(store: RegistryStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    orphan = push(store, "r", b"orphan")
    image(store, "r", "v1")
    age_everything(tmp_path)
    assert gc_main(["--root", str(tmp_path), "--dry-run", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["blobs"] == [str(orphan)] and out["dry_run"] is True
    assert (tmp_path / blob_key(orphan)).exists()
    assert gc_main(["--root", str(tmp_path)]) == 0
    assert "deleted blob" in capsys.readouterr().out
    assert not (tmp_path / blob_key(orphan)).exists()
