"""Unpacking one pulled layer at a time, while later layers still download.

``ImageService.add_image`` unpacks whatever is missing once everything is there; a pull calls
``unpack_layer`` for each layer as soon as its blob and its parent are ready, so download and
extraction overlap. A layer whose snapshot exists (committed by an earlier, maybe interrupted,
pull) is reused as is.
"""

from __future__ import annotations

import collections
import io
import os
import shutil
import tempfile
import threading
import uuid
from collections.abc import Callable
from typing import BinaryIO, cast

from dockyard import errors
from dockyard.archive.apply import apply_layer
from dockyard.images.service import ImageService
from dockyard.oci import mediatypes as mt
from dockyard.oci.digest import Digest
from dockyard.oci.image import Descriptor

__all__ = [
    "ChunkPipe",
    "PipeAbandoned",
    "clean_stale_extractions",
    "commit_extracted",
    "extract_layer",
    "extract_stream",
    "parallel_extraction",
    "unpack_layer",
]

_SCRATCH_PREFIX = "extract-"  # the prefix ImageService cleans up after a crash
_UNPACK_PREFIX = "unpack-"  # directories layers are extracted into before they become snapshots


class _Counting(io.RawIOBase):
    """Reports how many compressed bytes were consumed (Docker's ``Extracting`` progress)."""

    def __init__(self, f: BinaryIO, on_read: Callable[[int], None]) -> None:
        self._f = f
        self._n = 0
        self._on_read = on_read

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self._f.read(len(b))
        n = len(data)
        b[:n] = data
        self._n += n
        self._on_read(self._n)
        return n


def _decompressing(f: BinaryIO, media_type: str) -> BinaryIO:
    """gzip through isal when it is installed (several times faster than zlib); others by magic bytes."""
    if mt.layer_compression(media_type) == "gzip":
        try:
            from isal import igzip
        except ImportError:
            return f
        return igzip.IGzipFile(fileobj=f, mode="rb")  # type: ignore[no-untyped-call,return-value]
    return f


def _isal_errors() -> tuple[type[BaseException], ...]:
    try:
        from isal import isal_zlib
    except ImportError:
        return ()
    return (cast(type[BaseException], isal_zlib.error),)


def unpack_layer(
    images: ImageService,
    layer: Descriptor,
    diff_id: Digest,
    chain: Digest,
    parent: Digest | None,
    on_progress: Callable[[int], None],
) -> bool:
    """Apply the stored blob ``layer`` on top of ``parent`` as snapshot ``chain``; False if it already existed.

    The tar's diffID must be ``diff_id``; escaping paths and corrupt data raise and leave nothing behind.
    """
    snaps = images.snapshotter
    key = str(chain)
    if snaps.exists(key):
        return False
    scratch = f"{_SCRATCH_PREFIX}{uuid.uuid4().hex}"
    snaps.prepare(scratch, str(parent) if parent is not None else None)
    try:
        with images.content.open(layer.digest) as f:
            raw = io.BufferedReader(_Counting(f, on_progress), 1 << 20)
            stream = _decompressing(raw, layer.media_type)
            try:
                res = apply_layer(stream, snaps.upper_dir(scratch), whiteouts=snaps.whiteout_style, ids=snaps.ids)
            except _isal_errors() as exc:
                raise errors.InvalidArgument(f"invalid layer {layer.digest}: {exc}") from None
        if res.diff_id != diff_id:
            raise errors.DigestMismatch(f"layer {layer.digest} unpacks to {res.diff_id}, the config says {diff_id}")
        with images._lock:
            if snaps.exists(key):
                snaps.remove(scratch)  # another pull committed the same layer meanwhile
                return False
            snaps.commit(key, scratch)
    except BaseException:
        try:
            snaps.remove(scratch)
        except (errors.DockyardError, OSError):
            pass
        raise
    return True


def parallel_extraction(images: ImageService) -> bool:
    """Layers can be extracted independently (and in parallel) when whiteouts are overlay markers.

    A diff applied with overlay whiteouts never reads its parent, so it can be extracted before
    the parent exists; the copy snapshotter applies deletions to a copy of the parent and cannot.
    """
    return images.snapshotter.whiteout_style == "overlay"


def clean_stale_extractions(images: ImageService) -> None:
    """Remove extraction directories a crash left behind (call at start-up)."""
    for name in os.listdir(images.tmp_dir):
        if name.startswith(_UNPACK_PREFIX):
            shutil.rmtree(os.path.join(images.tmp_dir, name), ignore_errors=True)


def extract_layer(images: ImageService, layer: Descriptor, diff_id: Digest, on_progress: Callable[[int], None]) -> str:
    """Extract the stored blob ``layer`` into a new directory (returned), checking its diffID."""
    with images.content.open(layer.digest) as f:
        return extract_stream(images, f, layer, diff_id, on_progress)


def extract_stream(
    images: ImageService, src: BinaryIO, layer: Descriptor, diff_id: Digest, on_progress: Callable[[int], None]
) -> str:
    """Extract the blob ``layer`` read from ``src`` (a file, or a ``ChunkPipe`` fed by its download)."""
    target = tempfile.mkdtemp(dir=images.tmp_dir, prefix=_UNPACK_PREFIX)
    try:
        os.chmod(target, 0o755)  # what a snapshot's fs dir starts as; the tar's "./" entry may change it
        ids = images.snapshotter.ids
        if ids is not None:
            os.chown(target, *ids.root)
        raw = io.BufferedReader(_Counting(src, on_progress), 1 << 20)
        stream = _decompressing(raw, layer.media_type)
        try:
            res = apply_layer(stream, target, whiteouts="overlay", ids=ids)
        except _isal_errors() as exc:
            raise errors.InvalidArgument(f"invalid layer {layer.digest}: {exc}") from None
        if res.diff_id != diff_id:
            raise errors.DigestMismatch(f"layer {layer.digest} unpacks to {res.diff_id}, the config says {diff_id}")
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise
    return target


def commit_extracted(images: ImageService, extracted: str, chain: Digest, parent: Digest | None) -> bool:
    """Turn an extracted directory into the committed snapshot ``chain`` on ``parent``; False if it existed."""
    snaps = images.snapshotter
    key = str(chain)
    try:
        with images._lock:  # the service's writer lock, shared with its own unpacking
            if snaps.exists(key):
                return False
            scratch = f"{_SCRATCH_PREFIX}{uuid.uuid4().hex}"
            snaps.prepare(scratch, str(parent) if parent is not None else None)
            try:
                upper = snaps.upper_dir(scratch)
                os.rmdir(upper)  # freshly prepared, so empty
                try:
                    os.rename(extracted, upper)
                except OSError:
                    shutil.copytree(extracted, upper, symlinks=True)  # another filesystem: copy instead
                snaps.commit(key, scratch)
            except BaseException:
                try:
                    snaps.remove(scratch)
                except (errors.DockyardError, OSError):
                    pass
                raise
        return True
    finally:
        shutil.rmtree(extracted, ignore_errors=True)


class PipeAbandoned(Exception):
    """The producer gave up (download failed or restarted): the partial extraction is void."""


class ChunkPipe(io.RawIOBase):
    """A bounded byte pipe from a download (``feed``) to an extractor thread (``read``).

    The producer blocks when ``limit`` bytes wait unread, so a slow extraction slows the download
    rather than filling memory; ``abandon`` (consumer gone) and ``fail`` never leave either side blocked.
    """

    def __init__(self, limit: int = 16 << 20) -> None:
        super().__init__()
        self._chunks: collections.deque[bytes] = collections.deque()
        self._pending = 0
        self._limit = limit
        self._cond = threading.Condition()
        self._eof = False
        self._error: BaseException | None = None
        self._abandoned = False

    def readable(self) -> bool:
        return True

    # --- producer ---
    def feed(self, data: bytes) -> None:
        with self._cond:
            while self._pending >= self._limit and not self._abandoned and self._error is None:
                self._cond.wait()
            if self._abandoned or self._error is not None:
                return
            self._chunks.append(data)
            self._pending += len(data)
            self._cond.notify_all()

    def restart(self) -> None:
        self.fail(PipeAbandoned("the download restarted from the beginning"))

    def finish(self) -> None:
        with self._cond:
            self._eof = True
            self._cond.notify_all()

    def fail(self, error: BaseException) -> None:
        with self._cond:
            if self._error is None:
                self._error = error
            self._cond.notify_all()

    # --- consumer ---
    def abandon(self) -> None:
        with self._cond:
            self._abandoned = True
            self._chunks.clear()
            self._pending = 0
            self._cond.notify_all()

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        with self._cond:
            while not self._chunks and not self._eof and self._error is None:
                self._cond.wait()
            if self._error is not None:
                raise PipeAbandoned(str(self._error))
            if not self._chunks:
                return 0
            chunk = self._chunks.popleft()
            n = min(len(b), len(chunk))
            b[:n] = chunk[:n]
            if n < len(chunk):
                self._chunks.appendleft(chunk[n:])
            self._pending -= n
            self._cond.notify_all()
            return n
