"""Detect a layer's compression by its magic bytes and open a decompressing reader."""

from __future__ import annotations

import gzip
import io
from typing import BinaryIO

import zstandard

from dockyard import errors

__all__ = ["GZIP_MAGIC", "ZSTD_MAGIC", "decompressed", "detect"]

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_OTHER = {b"BZh": "bzip2", b"\xfd7zXZ\x00": "xz"}


def detect(head: bytes) -> str:
    """``'gzip'``, ``'zstd'`` or ``''`` (plain tar) for the first bytes of a stream."""
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(ZSTD_MAGIC):
        return "zstd"
    for magic, name in _OTHER.items():
        if head.startswith(magic):
            raise errors.InvalidArgument(f"unsupported layer compression: {name}")
    return ""


def decompressed(stream: BinaryIO) -> BinaryIO:
    """A reader of ``stream``'s uncompressed bytes, whatever its (supported) compression."""
    buffered = stream if isinstance(stream, io.BufferedReader) else io.BufferedReader(_Raw(stream), 1 << 16)
    kind = detect(buffered.peek(8)[:8])
    if kind == "gzip":
        return gzip.GzipFile(fileobj=buffered, mode="rb")  # type: ignore[return-value]
    if kind == "zstd":
        reader: BinaryIO = zstandard.ZstdDecompressor().stream_reader(buffered, read_across_frames=True)
        return reader
    return buffered


class _Raw(io.RawIOBase):
    """Adapts any ``read()``-able object so it can sit under a BufferedReader (for ``peek``)."""

    def __init__(self, f: BinaryIO) -> None:
        self._f = f

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self._f.read(len(b))
        n = len(data)
        b[:n] = data
        return n
