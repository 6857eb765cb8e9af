"""Blobs on the local filesystem: ``<root>/blobs/sha256/<hex>``, ingested via ``<root>/ingest``.

Every write goes to its own file under ``ingest/``, is hashed while streaming,
checked against the expected digest and size, fsynced and renamed into place.
Two writers of the same blob race harmlessly: both renames install identical bytes.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import AsyncIterable, Iterator
from types import TracebackType
from typing import BinaryIO

from dockyard import errors
from dockyard.content.api import BlobInfo
from dockyard.oci.digest import Digest, Hasher

__all__ = ["BlobWriter", "LocalStore"]

_CHUNK = 1 << 20


class BlobWriter:
    """One ingest: ``write`` chunks, then ``commit`` (verify + rename) or ``abort``."""

    def __init__(self, store: LocalStore, expected: Digest | None, size: int | None) -> None:
        self._store = store
        self._expected = expected
        self._size = size
        self._hasher = Hasher(expected.algorithm if expected else "sha256")
        fd, self._path = tempfile.mkstemp(dir=store.ingest_dir, prefix="ingest-")
        self._file: BinaryIO | None = os.fdopen(fd, "wb")

    def write(self, data: bytes) -> None:
        if self._file is None:
            raise errors.Internal("write on a closed blob writer")
        if self._size is not None and self._hasher.size + len(data) > self._size:
            self.abort()
            raise errors.SizeMismatch(f"blob larger than its expected size {self._size}")
        self._hasher.update(data)
        self._file.write(data)

    def commit(self) -> BlobInfo:
        if self._file is None:
            raise errors.Internal("commit on a closed blob writer")
        digest, size = self._hasher.digest(), self._hasher.size
        try:
            if self._size is not None and size != self._size:
                raise errors.SizeMismatch(f"blob size {size} does not match expected size {self._size}")
            if self._expected is not None and digest != self._expected:
                raise errors.DigestMismatch(f"blob digest {digest} does not match expected {self._expected}")
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            self._file = None
            target = self._store.path(digest)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            os.chmod(self._path, 0o444)
            os.replace(self._path, target)
            _fsync_dir(os.path.dirname(target))
        except BaseException:
            self.abort()
            raise
        return BlobInfo(digest, size)

    def abort(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        try:
            os.unlink(self._path)
        except FileNotFoundError:
            pass

    def __enter__(self) -> BlobWriter:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        if self._file is not None:
            self.abort()


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LocalStore:
    """A content store rooted at ``root`` (Provider and Ingester)."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.blobs_dir = os.path.join(root, "blobs")
        self.ingest_dir = os.path.join(root, "ingest")
        os.makedirs(os.path.join(self.blobs_dir, "sha256"), exist_ok=True)
        os.makedirs(self.ingest_dir, exist_ok=True)

    def path(self, digest: Digest) -> str:
        return os.path.join(self.blobs_dir, digest.algorithm, digest.hex)

    # --- Provider -----------------------------------------------------------

    def info(self, digest: Digest) -> BlobInfo:
        try:
            st = os.stat(self.path(digest))
        except FileNotFoundError:
            raise errors.NotFound(f"content {digest} not found") from None
        return BlobInfo(digest, st.st_size)

    def exists(self, digest: Digest) -> bool:
        return os.path.exists(self.path(digest))

    def open(self, digest: Digest) -> BinaryIO:
        try:
            return open(self.path(digest), "rb")
        except FileNotFoundError:
            raise errors.NotFound(f"content {digest} not found") from None

    def read(self, digest: Digest) -> bytes:
        with self.open(digest) as f:
            return f.read()

    def walk(self) -> Iterator[BlobInfo]:
        for algo in sorted(os.listdir(self.blobs_dir)):
            d = os.path.join(self.blobs_dir, algo)
            for name in sorted(os.listdir(d)):
                yield BlobInfo(Digest(algo, name), os.stat(os.path.join(d, name)).st_size)

    # --- Ingester -----------------------------------------------------------

    def writer(self, expected: Digest | None = None, size: int | None = None) -> BlobWriter:
        return BlobWriter(self, expected, size)

    def write_bytes(self, data: bytes, expected: Digest | None = None) -> BlobInfo:
        with self.writer(expected, None if expected is None else len(data)) as w:
            w.write(data)
            return w.commit()

    def ingest_file(self, src: BinaryIO, expected: Digest | None = None, size: int | None = None) -> BlobInfo:
        """Copy a readable stream into the store, verifying it on the way."""
        if expected is not None and self.exists(expected):
            return self.info(expected)
        with self.writer(expected, size) as w:
            while chunk := src.read(_CHUNK):
                w.write(chunk)
            return w.commit()

    async def ingest_async(
        self, chunks: AsyncIterable[bytes], expected: Digest | None = None, size: int | None = None
    ) -> BlobInfo:
        """Write an async byte stream; disk writes and hashing run in a worker thread."""
        w = await asyncio.to_thread(self.writer, expected, size)
        try:
            async for chunk in chunks:
                await asyncio.to_thread(w.write, chunk)
            return await asyncio.to_thread(w.commit)
        except BaseException:
            w.abort()
            raise

    def delete(self, digest: Digest) -> bool:
        try:
            os.unlink(self.path(digest))
        except FileNotFoundError:
            return False
        return True

    def clean_ingest(self) -> None:
        """Drop leftovers of writes interrupted by a crash (call at start-up only)."""
        shutil.rmtree(self.ingest_dir, ignore_errors=True)
        os.makedirs(self.ingest_dir, exist_ok=True)
