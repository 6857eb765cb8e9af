"""The local content store: verified, atomic, and race-free writes."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from dockyard import errors
from dockyard.content import LocalStore
from dockyard.oci import Digest


def _digest(data: bytes) -> Digest:
    return Digest("sha256", hashlib.sha256(data).hexdigest())


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(str(tmp_path / "content"))


def _visible(store: LocalStore) -> list[str]:
    return sorted(os.listdir(os.path.join(store.blobs_dir, "sha256")))


def test_write_then_read_back(store: LocalStore) -> None:
    data = os.urandom(3 * 1024 * 1024 + 7)
    info = store.ingest_file(io.BytesIO(data), _digest(data), len(data))
    assert info.digest == _digest(data)
    assert info.size == len(data)
    assert store.read(info.digest) == data
    assert store.info(info.digest).size == len(data)
    assert store.exists(info.digest)
    assert os.listdir(store.ingest_dir) == []


def test_digest_mismatch_leaves_nothing(store: LocalStore) -> None:
    data = b"hello"
    with pytest.raises(errors.DigestMismatch):
        store.ingest_file(io.BytesIO(data), _digest(b"other"), len(data))
    assert _visible(store) == []
    assert os.listdir(store.ingest_dir) == []


def test_size_mismatch_short_and_long(store: LocalStore) -> None:
    data = b"0123456789"
    with pytest.raises(errors.SizeMismatch):
        store.ingest_file(io.BytesIO(data), _digest(data), len(data) + 1)
    with pytest.raises(errors.SizeMismatch):
        store.ingest_file(io.BytesIO(data), None, len(data) - 1)
    assert _visible(store) == []
    assert os.listdir(store.ingest_dir) == []


def test_abort_and_unfinished_writer_leave_nothing(store: LocalStore) -> None:
    w = store.writer()
    w.write(b"partial")
    w.abort()
    with store.writer() as w2:
        w2.write(b"never committed")
    assert _visible(store) == []
    assert os.listdir(store.ingest_dir) == []


def test_unknown_digest_is_not_found(store: LocalStore) -> None:
    d = _digest(b"missing")
    assert not store.exists(d)
    with pytest.raises(errors.NotFound):
        store.info(d)
    with pytest.raises(errors.NotFound):
        store.read(d)


def test_concurrent_writes_of_one_blob(store: LocalStore) -> None:
    data = os.urandom(512 * 1024)
    expected = _digest(data)
    barrier = threading.Barrier(8)
    results: list[object] = []

    def write() -> None:
        barrier.wait(timeout=10)
        w = store.writer(expected, len(data))
        for i in range(0, len(data), 4096):
            w.write(data[i : i + 4096])
        results.append(w.commit())

    threads = [threading.Thread(target=write) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(results) == 8
    assert _visible(store) == [expected.hex]
    assert store.read(expected) == data
    assert os.listdir(store.ingest_dir) == []


def test_async_ingest(store: LocalStore) -> None:
    data = b"x" * 100_000

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(0, len(data), 10_000):
            yield data[i : i + 10_000]

    info = asyncio.run(store.ingest_async(chunks(), _digest(data), len(data)))
    assert store.read(info.digest) == data

    with pytest.raises(errors.DigestMismatch):
        asyncio.run(store.ingest_async(chunks(), _digest(b"nope"), len(data)))
    assert _visible(store) == [info.digest.hex]


def test_delete_and_walk(store: LocalStore) -> None:
    a = store.write_bytes(b"a")
    b = store.write_bytes(b"bb")
    assert {x.digest for x in store.walk()} == {a.digest, b.digest}
    assert store.delete(a.digest)
    assert not store.delete(a.digest)
    assert [x.digest for x in store.walk()] == [b.digest]
