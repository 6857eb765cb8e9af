"""File-like wrappers that hash the bytes passing through them."""

from __future__ import annotations

from typing import BinaryIO

from dockyard.oci.digest import Digest, Hasher

__all__ = ["HashingReader", "HashingWriter"]


class HashingReader:
    """Reads from ``src`` and hashes everything read (the diffID of a layer being applied)."""

    def __init__(self, src: BinaryIO) -> None:
        self._src = src
        self.hasher = Hasher()

    def read(self, n: int = -1) -> bytes:
        data = self._src.read(n)
        self.hasher.update(data)
        return data

    def drain(self) -> None:
        """Read to the end, so the digest covers trailing padding tar readers skip."""
        while self.read(1 << 20):
            pass

    @property
    def digest(self) -> Digest:
        return self.hasher.digest()


class HashingWriter:
    """Writes to ``dst`` (may be None to only hash) and hashes everything written."""

    def __init__(self, dst: BinaryIO | None) -> None:
        self._dst = dst
        self.hasher = Hasher()

    def write(self, data: bytes) -> int:
        self.hasher.update(data)
        if self._dst is not None:
            self._dst.write(data)
        return len(data)

    def flush(self) -> None:
        if self._dst is not None:
            self._dst.flush()

    @property
    def digest(self) -> Digest:
        return self.hasher.digest()
