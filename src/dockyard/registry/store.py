"""Repositories, blobs, uploads, manifests, tags and referrers on top of a ``Driver``.

Layout (keys of the driver)::

    blobs/<algo>/<xx>/<hex>                          content, verified, immutable
    repositories/<name>/_layers/<algo>/<hex>         blob is part of <name>
    repositories/<name>/_manifests/revisions/<algo>/<hex>   media type of a manifest
    repositories/<name>/_manifests/tags/<tag>        digest the tag points at
    repositories/<name>/_referrers/<algo>/<hex>/<algo>-<hex>  descriptor JSON of a referrer
    _uploads/<id>/info                               JSON: repository, start time
    _uploads/<id>/data                               bytes received so far

Nothing a request needs lives in process memory: the upload offset is the size
of ``data`` and the digest is recomputed from it when no cached hash state
matches, so any replica can continue any upload.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import AsyncIterable, Callable
from dataclasses import dataclass
from typing import Any, BinaryIO

from dockyard.errors import InvalidArgument, NotFound
from dockyard.oci import Digest
from dockyard.registry.errors import (
    BlobUnknown,
    BlobUploadInvalid,
    BlobUploadUnknown,
    DigestInvalid,
    ManifestBlobUnknown,
    ManifestInvalid,
    ManifestUnknown,
    NameUnknown,
    RangeInvalid,
    TooLarge,
)
from dockyard.registry.manifests import ParsedManifest, parse_manifest, referrer_descriptor
from dockyard.registry.names import check_tag
from dockyard.registry.storage import Driver

__all__ = ["ManifestRecord", "RegistryStore", "blob_key", "subject_of"]

_CHUNK = 1 << 20
_HashObj = Any  # hashlib's object type is private


def blob_key(d: Digest) -> str:
    return f"blobs/{d.algorithm}/{d.hex[:2]}/{d.hex}"


def subject_of(data: bytes) -> Digest | None:
    """The subject digest of a stored manifest, if it has one."""
    try:
        subject = json.loads(data).get("subject")
        return Digest.parse(str(subject["digest"])) if isinstance(subject, dict) else None
    except (ValueError, AttributeError, KeyError, InvalidArgument):
        return None


def _repo(name: str) -> str:
    return f"repositories/{name}"


@dataclass(frozen=True)
class ManifestRecord:
    digest: Digest
    media_type: str
    data: bytes


class RegistryStore:
    """The registry's state. Names, tags and upload ids are trusted here: callers check them (names.py)."""

    def __init__(self, driver: Driver, *, clock: Callable[[], float] = time.time) -> None:
        self.driver = driver
        self.clock = clock
        # An optimisation only: hash state of uploads this process is writing.
        self._hashes: dict[str, tuple[int, _HashObj]] = {}
        # Uploads receiving a chunk in this process: a second writer would interleave bytes.
        self._writing: set[str] = set()

    # -- repositories ------------------------------------------------------

    def repo_exists(self, name: str) -> bool:
        # A parent of nested repositories (``a`` of ``a/b``) is not a repository itself.
        return any(c.startswith("_") for c in self.driver.list(_repo(name)))

    def repositories(self) -> list[str]:
        out: list[str] = []

        def walk(prefix: str, parts: list[str]) -> None:
            children = self.driver.list(prefix)
            if any(c.startswith("_") for c in children) and parts:
                out.append("/".join(parts))
            for c in children:
                if not c.startswith("_") and not c.startswith("."):
                    walk(f"{prefix}/{c}", [*parts, c])

        walk("repositories", [])
        return sorted(out)

    # -- blobs -------------------------------------------------------------

    def _link(self, name: str, d: Digest) -> str:
        return f"{_repo(name)}/_layers/{d.algorithm}/{d.hex}"

    def blob_size(self, name: str, d: Digest) -> int:
        if self.driver.size(self._link(name, d)) is None:
            raise BlobUnknown(f"blob {d} unknown to repository", {"digest": str(d)})
        size = self.driver.size(blob_key(d))
        if size is None:
            raise BlobUnknown(f"blob {d} unknown", {"digest": str(d)})
        return size

    def open_blob(self, name: str, d: Digest, offset: int = 0) -> BinaryIO:
        self.blob_size(name, d)
        try:
            return self.driver.open_read(blob_key(d), offset)
        except NotFound:
            raise BlobUnknown(f"blob {d} unknown", {"digest": str(d)}) from None

    def delete_blob(self, name: str, d: Digest) -> None:
        """Unlink a blob from a repository; GC removes the content when nothing uses it."""
        self.blob_size(name, d)
        self.driver.delete(self._link(name, d))

    def mount_blob(self, name: str, source: str, d: Digest) -> bool:
        try:
            self.blob_size(source, d)
        except BlobUnknown:
            return False
        self.driver.touch(blob_key(d))
        self.driver.put(self._link(name, d), b"")
        return True

    # -- uploads -----------------------------------------------------------

    def start_upload(self, name: str) -> str:
        upload_id = str(uuid.uuid4())
        info = {"repository": name, "started": self.clock()}
        self.driver.put(f"_uploads/{upload_id}/info", json.dumps(info).encode())
        self.driver.put(f"_uploads/{upload_id}/data", b"")
        self.begin_hash(upload_id, "sha256")
        return upload_id

    def upload_offset(self, name: str, upload_id: str) -> int:
        try:
            info = json.loads(self.driver.get(f"_uploads/{upload_id}/info"))
        except (NotFound, ValueError):
            raise BlobUploadUnknown("blob upload unknown") from None
        size = self.driver.size(f"_uploads/{upload_id}/data")
        if info.get("repository") != name or size is None:
            raise BlobUploadUnknown("blob upload unknown")
        return size

    async def append_upload(
        self,
        name: str,
        upload_id: str,
        chunks: AsyncIterable[bytes],
        *,
        start: int | None = None,
        length: int | None = None,
        max_size: int = 0,
    ) -> int:
        """Append a chunk; ``start`` (from Content-Range) must equal the current offset.

        Bytes that arrive before the client disconnects are kept, so the
        upload can be resumed from the offset a status request reports.
        """
        offset = self.upload_offset(name, upload_id)
        if upload_id in self._writing:
            raise RangeInvalid("another chunk of this upload is still being received", offset)
        if start is not None and start != offset:
            raise RangeInvalid(f"chunk starts at {start}, upload is at {offset}", offset)
        if max_size and length is not None and offset + length > max_size:
            raise TooLarge(f"blob larger than the limit of {max_size} bytes")
        cached = self._hashes.pop(upload_id, None)
        hasher = cached[1] if cached is not None and cached[0] == offset else None
        written = 0
        f = self.driver.open_append(f"_uploads/{upload_id}/data", offset)
        self._writing.add(upload_id)
        try:
            async for chunk in chunks:
                if max_size and offset + written + len(chunk) > max_size:
                    raise TooLarge(f"blob larger than the limit of {max_size} bytes")
                if length is not None and written + len(chunk) > length:
                    raise BlobUploadInvalid("body longer than Content-Length/Content-Range")
                f.write(chunk)
                if hasher is not None:
                    hasher.update(chunk)
                written += len(chunk)
        finally:
            f.close()
            self._writing.discard(upload_id)
        if hasher is not None:
            self._hashes[upload_id] = (offset + written, hasher)
        if length is not None and written != length:
            raise BlobUploadInvalid(f"expected {length} bytes, got {written}")
        return offset + written

    def _digest_of_upload(self, upload_id: str, algorithm: str, size: int) -> Digest:
        cached = self._hashes.pop(upload_id, None)
        if cached is not None and cached[0] == size and cached[1].name == algorithm:
            return Digest(algorithm, cached[1].hexdigest())
        h = hashlib.new(algorithm)
        with self.driver.open_read(f"_uploads/{upload_id}/data") as f:
            while block := f.read(_CHUNK):
                h.update(block)
        return Digest(algorithm, h.hexdigest())

    def begin_hash(self, upload_id: str, algorithm: str) -> None:
        """Hash while streaming for an upload this process writes from offset 0."""
        self._hashes[upload_id] = (0, hashlib.new(algorithm))

    def finish_upload(self, name: str, upload_id: str, d: Digest) -> int:
        """Verify the upload against ``d`` and make it visible; a mismatch discards it."""
        size = self.upload_offset(name, upload_id)
        actual = self._digest_of_upload(upload_id, d.algorithm, size)
        if actual != d:
            self.cancel_upload(name, upload_id)
            raise DigestInvalid(f"content digest {actual} does not match {d}", {"digest": str(d)})
        # Rename is atomic: concurrent pushes of the same blob replace identical bytes.
        self.driver.move(f"_uploads/{upload_id}/data", blob_key(d))
        self.driver.touch(blob_key(d))
        self.driver.put(self._link(name, d), b"")
        self.driver.delete_tree(f"_uploads/{upload_id}")
        return size

    def cancel_upload(self, name: str, upload_id: str) -> None:
        self.upload_offset(name, upload_id)
        self._hashes.pop(upload_id, None)
        self.driver.delete_tree(f"_uploads/{upload_id}")

    def upload_ids(self) -> list[str]:
        return self.driver.list("_uploads")

    def upload_activity(self, upload_id: str) -> float | None:
        times = [self.driver.mtime(f"_uploads/{upload_id}/{n}") for n in ("info", "data")]
        known = [t for t in times if t is not None]
        return max(known) if known else None

    def purge_uploads(self, max_age: float) -> list[str]:
        """Remove uploads with no activity for ``max_age`` seconds; returns their ids."""
        now = self.clock()
        removed = []
        for upload_id in self.upload_ids():
            last = self.upload_activity(upload_id)
            if last is None or now - last > max_age:
                self._hashes.pop(upload_id, None)
                self.driver.delete_tree(f"_uploads/{upload_id}")
                removed.append(upload_id)
        live = set(self.upload_ids())
        for upload_id in [u for u in self._hashes if u not in live]:
            self._hashes.pop(upload_id, None)  # finished or purged by another replica
        return removed

    # -- manifests ---------------------------------------------------------

    def _revision(self, name: str, d: Digest) -> str:
        return f"{_repo(name)}/_manifests/revisions/{d.algorithm}/{d.hex}"

    def _tag(self, name: str, tag: str) -> str:
        return f"{_repo(name)}/_manifests/tags/{tag}"

    def _referrer(self, name: str, subject: Digest, d: Digest) -> str:
        return f"{_repo(name)}/_referrers/{subject.algorithm}/{subject.hex}/{d.algorithm}-{d.hex}"

    def put_manifest(self, name: str, reference: str | Digest, data: bytes, content_type: str) -> ParsedManifest:
        algorithm = reference.algorithm if isinstance(reference, Digest) else "sha256"
        d = Digest.from_bytes(data, algorithm)
        if isinstance(reference, Digest) and d != reference:
            raise DigestInvalid(f"manifest digest {d} does not match {reference}", {"digest": str(reference)})
        m = parse_manifest(data, content_type, d)
        for blob in m.blobs:
            if blob.urls:
                continue  # foreign layers live elsewhere
            try:
                size = self.blob_size(name, blob.digest)
            except BlobUnknown:
                raise ManifestBlobUnknown(f"blob {blob.digest} unknown", {"digest": str(blob.digest)}) from None
            if size != blob.size:
                raise ManifestInvalid(f"blob {blob.digest} is {size} bytes, manifest says {blob.size}")
        for blob in m.blobs:
            if not blob.urls:
                # Fresh mtimes keep these blobs out of a concurrent GC's sweep (see gc.py).
                self.driver.touch(blob_key(blob.digest))
        for child in m.children:
            if self.driver.size(self._revision(name, child.digest)) is None:
                raise ManifestBlobUnknown(f"manifest {child.digest} unknown", {"digest": str(child.digest)})
        self.driver.put(blob_key(d), data)
        self.driver.put(self._revision(name, d), m.media_type.encode())
        if m.subject is not None:
            self.driver.put(self._referrer(name, m.subject.digest, d), json.dumps(referrer_descriptor(m)).encode())
        if isinstance(reference, str):
            self.driver.put(self._tag(name, reference), str(d).encode())
        return m

    def resolve(self, name: str, reference: str | Digest) -> Digest:
        if isinstance(reference, Digest):
            if self.driver.size(self._revision(name, reference)) is None:
                raise ManifestUnknown(f"manifest {reference} unknown", {"digest": str(reference)})
            return reference
        try:
            return Digest.parse(self.driver.get(self._tag(name, reference)).decode())
        except NotFound:
            raise ManifestUnknown(f"manifest tagged {reference!r} unknown", {"tag": reference}) from None

    def get_manifest(self, name: str, reference: str | Digest) -> ManifestRecord:
        d = self.resolve(name, reference)
        try:
            media_type = self.driver.get(self._revision(name, d)).decode()
            data = self.driver.get(blob_key(d))
        except NotFound:
            raise ManifestUnknown(f"manifest {d} unknown", {"digest": str(d)}) from None
        return ManifestRecord(d, media_type, data)

    def delete_tag(self, name: str, tag: str) -> None:
        self.resolve(name, tag)
        self.driver.delete(self._tag(name, tag))

    def delete_manifest(self, name: str, d: Digest) -> None:
        """Remove a revision, every tag on it and its referrers entry."""
        record = self.get_manifest(name, d)
        for tag in self.tags(name):
            if self.resolve(name, tag) == d:
                self.driver.delete(self._tag(name, tag))
        subject = subject_of(record.data)
        if subject is not None:
            self.driver.delete(self._referrer(name, subject, d))
        self.driver.delete(self._revision(name, d))

    def revisions(self, name: str) -> list[Digest]:
        out: list[Digest] = []
        base = f"{_repo(name)}/_manifests/revisions"
        for algo in self.driver.list(base):
            out.extend(Digest(algo, h) for h in self.driver.list(f"{base}/{algo}"))
        return out

    def tags(self, name: str) -> list[str]:
        return [t for t in self.driver.list(f"{_repo(name)}/_manifests/tags") if not t.startswith(".")]

    def tags_or_unknown(self, name: str) -> list[str]:
        if not self.repo_exists(name):
            raise NameUnknown(f"repository {name!r} unknown", {"name": name})
        return sorted(check_tag(t) for t in self.tags(name))

    def referrers(self, name: str, subject: Digest) -> list[dict[str, Any]]:
        base = f"{_repo(name)}/_referrers/{subject.algorithm}/{subject.hex}"
        out = []
        for entry in self.driver.list(base):
            try:
                out.append(json.loads(self.driver.get(f"{base}/{entry}")))
            except (NotFound, ValueError):
                continue
        return out

    # -- garbage collection support ------------------------------------------

    def all_blobs(self) -> list[Digest]:
        out: list[Digest] = []
        for algo in self.driver.list("blobs"):
            for prefix in self.driver.list(f"blobs/{algo}"):
                out.extend(Digest(algo, h) for h in self.driver.list(f"blobs/{algo}/{prefix}"))
        return out

    def blob_info(self, d: Digest) -> tuple[int, float] | None:
        """Size and modification time of stored content, or None."""
        size, mtime = self.driver.size(blob_key(d)), self.driver.mtime(blob_key(d))
        return None if size is None or mtime is None else (size, mtime)

    def read_blob(self, d: Digest) -> bytes:
        return self.driver.get(blob_key(d))

    def remove_blob(self, d: Digest) -> None:
        """Delete content and every repository's link to it (GC only)."""
        self.driver.delete(blob_key(d))
        for name in self.repositories():
            self.driver.delete(self._link(name, d))

    def revision_media_type(self, name: str, d: Digest) -> str:
        return self.driver.get(self._revision(name, d)).decode()
