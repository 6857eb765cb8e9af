"""The content store's roles: read blobs (Provider) and write them verified (Ingester)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import BinaryIO, Protocol

from dockyard.oci.digest import Digest

__all__ = ["BlobInfo", "Ingester", "Provider", "Writer"]


@dataclass(frozen=True)
class BlobInfo:
    digest: Digest
    size: int


class Provider(Protocol):
    """Reads committed blobs; raises ``errors.NotFound`` for unknown digests."""

    def info(self, digest: Digest) -> BlobInfo: ...

    def exists(self, digest: Digest) -> bool: ...

    def open(self, digest: Digest) -> BinaryIO: ...

    def read(self, digest: Digest) -> bytes: ...


class Writer(Protocol):
    """An in-progress blob write: nothing is visible until ``commit`` succeeds."""

    def write(self, data: bytes) -> None: ...

    def commit(self) -> BlobInfo: ...

    def abort(self) -> None: ...


class Ingester(Protocol):
    """Starts writes; ``commit`` checks ``expected``/``size`` when they are given."""

    def writer(self, expected: Digest | None = None, size: int | None = None) -> Writer: ...
