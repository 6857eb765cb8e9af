"""The storage seam: a small key/object interface the registry is built on.

Keys are ``/``-separated relative paths made only of validated names and
digests. The contract is deliberately object-store shaped so that an S3
driver can implement it (append maps to multipart parts, move to copy+delete);
all registry state lives behind it, so several replicas can share one store.
"""

from __future__ import annotations

from typing import BinaryIO, Protocol

__all__ = ["Driver"]


class Driver(Protocol):
    """Objects by key. Missing keys raise ``dockyard.errors.NotFound`` where noted."""

    def get(self, key: str) -> bytes:
        """The whole object; NotFound when missing."""
        ...

    def put(self, key: str, data: bytes) -> None:
        """Write atomically: readers see the old object or the new, never a mix."""
        ...

    def size(self, key: str) -> int | None:
        """Size in bytes, or None when missing."""
        ...

    def mtime(self, key: str) -> float | None:
        """Last modification (epoch seconds), or None when missing."""
        ...

    def touch(self, key: str) -> None:
        """Set the modification time to now (keeps fresh blobs out of GC)."""
        ...

    def delete(self, key: str) -> None:
        """Remove one object; missing is fine."""
        ...

    def delete_tree(self, prefix: str) -> None:
        """Remove every object under ``prefix``; missing is fine."""
        ...

    def list(self, prefix: str) -> list[str]:
        """Names of the direct children of ``prefix`` (objects and sub-prefixes), sorted."""
        ...

    def open_read(self, key: str, offset: int = 0) -> BinaryIO:
        """A reader positioned at ``offset``; NotFound when missing."""
        ...

    def open_append(self, key: str, offset: int) -> BinaryIO:
        """A writer that continues the object at ``offset``, dropping anything beyond it."""
        ...

    def move(self, src: str, dst: str) -> None:
        """Atomically replace ``dst`` with ``src``; NotFound when ``src`` is missing."""
        ...
