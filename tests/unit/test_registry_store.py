"""RegistryStore on the filesystem driver: verification, resumable uploads across replicas, expiry, safety."""

from __future__ import annotations

import asyncio
import json
import os
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from dockyard.errors import NotFound, UnsafePath
from dockyard.oci import Digest
from dockyard.registry import errors as re_
from dockyard.registry.storage import FilesystemDriver
from dockyard.registry.store import RegistryStore, blob_key


async def _chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for p in parts:
        yield p


def append(store: RegistryStore, name: str, uid: str, *parts: bytes, start: int | None = None) -> int:
    return asyncio.run(store.append_upload(name, uid, _chunks(*parts), start=start))


def push(store: RegistryStore, name: str, data: bytes) -> Digest:
    uid = store.start_upload(name)
    append(store, name, uid, data)
    d = Digest.from_bytes(data)
    store.finish_upload(name, uid, d)
    return d


def test_upload_continues_on_another_replica(tmp_path: Path) -> None:
    a, b = RegistryStore(FilesystemDriver(tmp_path)), RegistryStore(FilesystemDriver(tmp_path))
    data = os.urandom(10_000)
    uid = a.start_upload("r")
    a.begin_hash(uid, "sha256")
    assert append(a, "r", uid, data[:4000], start=0) == 4000
    # Replica b has no hash state: it continues from the stored offset and re-hashes.
    assert b.upload_offset("r", uid) == 4000
    assert append(b, "r", uid, data[4000:], start=4000) == 10_000
    d = Digest.from_bytes(data)
    assert b.finish_upload("r", uid, d) == 10_000
    with a.open_blob("r", d) as f:
        assert f.read() == data
    assert a.upload_ids() == []


def test_out_of_order_chunk_refused_and_state_unchanged(tmp_path: Path) -> None:
    s = RegistryStore(FilesystemDriver(tmp_path))
    uid = s.start_upload("r")
    append(s, "r", uid, b"abc")
    with pytest.raises(re_.RangeInvalid) as info:
        append(s, "r", uid, b"zzz", start=10)
    assert info.value.offset == 3
    with pytest.raises(re_.RangeInvalid):
        append(s, "r", uid, b"abc", start=0)
    assert s.upload_offset("r", uid) == 3


def test_digest_mismatch_discards_upload_and_stores_nothing(tmp_path: Path) -> None:
    s = RegistryStore(FilesystemDriver(tmp_path))
    uid = s.start_upload("r")
    append(s, "r", uid, b"real content")
    wrong = Digest.from_bytes(b"claimed content")
    with pytest.raises(re_.DigestInvalid):
        s.finish_upload("r", uid, wrong)
    assert s.all_blobs() == []
    assert s.upload_ids() == []
    with pytest.raises(re_.BlobUploadUnknown):
        s.upload_offset("r", uid)


def test_size_limit(tmp_path: Path) -> None:
    s = RegistryStore(FilesystemDriver(tmp_path))
    uid = s.start_upload("r")
    with pytest.raises(re_.TooLarge):
        asyncio.run(s.append_upload("r", uid, _chunks(b"x" * 60, b"x" * 60), max_size=100))


def test_concurrent_finishes_of_the_same_blob(tmp_path: Path) -> None:
    s = RegistryStore(FilesystemDriver(tmp_path))
    data = os.urandom(200_000)
    d = Digest.from_bytes(data)
    uploads = []
    for i in range(8):
        uid = s.start_upload(f"r{i}")
        append(s, f"r{i}", uid, data)
        uploads.append((f"r{i}", uid))
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(uploads))

    def finish(name: str, uid: str) -> None:
        try:
            barrier.wait(timeout=10)
            s.finish_upload(name, uid, d)
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=finish, args=u) for u in uploads]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert errors == []
    assert (tmp_path / blob_key(d)).read_bytes() == data
    for i in range(8):
        assert s.blob_size(f"r{i}", d) == len(data)


def test_abandoned_uploads_expire(tmp_path: Path) -> None:
    now = [1_000_000.0]
    s = RegistryStore(FilesystemDriver(tmp_path), clock=lambda: now[0])
    old = s.start_upload("r")
    fresh = s.start_upload("r")
    for uid, t in ((old, now[0] - 7200), (fresh, now[0] - 10)):
        for part in ("info", "data"):
            os.utime(tmp_path / "_uploads" / uid / part, (t, t))
    assert s.purge_uploads(3600) == [old]
    assert s.upload_ids() == [fresh]


def test_driver_refuses_escaping_keys(tmp_path: Path) -> None:
    drv = FilesystemDriver(tmp_path / "root")
    for key in ("../x", "a/../../x", "/abs", "a//b", "", "a/./b"):
        with pytest.raises(UnsafePath):
            drv.put(key, b"x")
    assert not (tmp_path / "x").exists()
    with pytest.raises(NotFound):
        drv.get("missing")


def test_manifest_storage_and_referrers(tmp_path: Path) -> None:
    s = RegistryStore(FilesystemDriver(tmp_path))
    cfg = b"{}"
    cd = push(s, "r", cfg)
    subject = Digest.from_bytes(b"subject")
    body = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": str(cd), "size": 2},
            "layers": [],
            "subject": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": str(subject), "size": 7},
        }
    ).encode()
    m = s.put_manifest("r", "t", body, "application/vnd.oci.image.manifest.v1+json")
    assert s.get_manifest("r", "t").data == body
    assert [x["digest"] for x in s.referrers("r", subject)] == [str(m.digest)]
    s.delete_manifest("r", m.digest)
    assert s.referrers("r", subject) == []
    assert s.tags("r") == []
    assert s.repositories() == ["r"]


def test_second_writer_of_one_upload_is_refused(tmp_path: Path) -> None:
    s = RegistryStore(FilesystemDriver(tmp_path))
    uid = s.start_upload("r")

    async def scenario() -> None:
        release = asyncio.Event()
        started = asyncio.Event()

        async def slow() -> AsyncIterator[bytes]:
            yield b"first"
            started.set()
            await release.wait()
            yield b"-rest"

        first = asyncio.create_task(s.append_upload("r", uid, slow()))
        await asyncio.wait_for(started.wait(), 10)
        with pytest.raises(re_.RangeInvalid):
            await s.append_upload("r", uid, _chunks(b"intruder"))
        release.set()
        assert await asyncio.wait_for(first, 10) == len(b"first-rest")

    asyncio.run(scenario())
    with s.driver.open_read(f"_uploads/{uid}/data") as f:
        assert f.read() == b"first-rest"
