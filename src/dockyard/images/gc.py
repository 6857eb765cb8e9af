"""Leases and garbage collection of image content by reachability.

Roots are the recorded images (manifest, config, layer blobs, layer snapshots) and the leases
held by operations in flight (pulls, pushes). Everything else under the content store, and every
layer snapshot no image or container stands on, is garbage: leftovers of interrupted pulls,
compressed copies made for pushes, layers of deleted images that a container held at the time.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from dockyard import errors
from dockyard.images.service import ImageService
from dockyard.oci.digest import Digest
from dockyard.oci.image import Manifest
from dockyard.snapshots.chain import chain_ids

__all__ = ["GCResult", "Lease", "Leases", "collect"]


@dataclass
class Lease:
    """What one in-flight operation protects from collection."""

    id: int
    blobs: set[Digest] = field(default_factory=set)
    snapshots: set[str] = field(default_factory=set)

    def add_blobs(self, digests: Iterable[Digest]) -> None:
        self.blobs.update(digests)

    def add_snapshots(self, keys: Iterable[str]) -> None:
        self.snapshots.update(keys)


class Leases:
    """The daemon's live leases (in memory: a crash ends every operation, so none survive it)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._live: dict[int, Lease] = {}
        self._ids = itertools.count(1)

    @contextmanager
    def hold(self) -> Iterator[Lease]:
        lease = Lease(next(self._ids))
        with self._lock:
            self._live[lease.id] = lease
        try:
            yield lease
        finally:
            with self._lock:
                self._live.pop(lease.id, None)

    def protected(self) -> tuple[set[Digest], set[str]]:
        with self._lock:
            blobs = {d for lease in self._live.values() for d in lease.blobs}
            snaps = {s for lease in self._live.values() for s in lease.snapshots}
        return blobs, snaps


@dataclass(frozen=True)
class GCResult:
    blobs_removed: int
    snapshots_removed: int
    bytes_freed: int


def _roots(images: ImageService) -> tuple[set[Digest], set[str]]:
    blobs: set[Digest] = set()
    chains: set[str] = set()
    for m in images.meta.images():
        man_digest = Digest.parse(m.manifest_digest)
        blobs.add(man_digest)
        blobs.add(Digest.parse(m.id))
        try:
            man = Manifest.from_json(images.content.read(man_digest))
        except errors.DockyardError:
            continue
        blobs.update(x.digest for x in man.layers)
        rec = images.resolve(m.id)
        chains.update(str(c) for c in chain_ids([Digest.parse(d) for d in rec.diff_ids]))
    return blobs, chains


def _mtime(images: ImageService, digest: Digest) -> float:
    try:
        return os.stat(images.content.path(digest)).st_mtime
    except FileNotFoundError:
        return 0.0


def collect(images: ImageService, leases: Leases | None = None, *, keep_after: float = 0.0) -> GCResult:
    """Remove unreachable blobs and layer snapshots; returns what went and the bytes freed.

    Blobs written at or after the timestamp ``keep_after`` are kept: writers that hold no lease
    (a build between storing a layer and registering its image) are not swept from under their feet.
    """
    cutoff = keep_after
    with images._lock:
        keep_blobs, keep_chains = _roots(images)
        if leases is not None:
            lb, ls = leases.protected()
            keep_blobs |= lb
            keep_chains |= ls
        freed = 0
        nblobs = 0
        for info in list(images.content.walk()):
            if info.digest in keep_blobs or (cutoff and _mtime(images, info.digest) >= cutoff):
                continue
            if images.content.delete(info.digest):
                nblobs += 1
                freed += info.size
        nsnaps = 0
        # layer snapshots are keyed by chain ID; remove leaves first (a parent with children refuses)
        candidates = [k for k in images.snapshotter.all_keys() if k.startswith("sha256:") and k not in keep_chains]
        progress = True
        while candidates and progress:
            progress = False
            for key in list(candidates):
                try:
                    size = images.snapshotter.usage(key)
                    images.snapshotter.remove(key)
                except errors.Conflict:
                    continue  # a child (a container's or another layer's) still stands on it
                except errors.NotFound:
                    pass
                else:
                    nsnaps += 1
                    freed += size
                candidates.remove(key)
                progress = True
    return GCResult(nblobs, nsnaps, freed)
