"""Garbage collection: mark from tags (or all revisions) and referrers, sweep unreferenced blobs.

Safe next to a running registry: blobs modified within ``grace`` seconds are
never swept, which covers uploads that completed but whose manifest is not
pushed yet; in-progress uploads live outside ``blobs/`` and are not touched.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from dockyard.errors import DockyardError, NotFound
from dockyard.oci import Digest
from dockyard.registry.manifests import parse_manifest
from dockyard.registry.store import RegistryStore

__all__ = ["GCResult", "collect"]

log = logging.getLogger("dockyard.registry.gc")


@dataclass
class GCResult:
    marked: set[Digest] = field(default_factory=set)
    deleted_manifests: list[tuple[str, Digest]] = field(default_factory=list)
    deleted_blobs: list[Digest] = field(default_factory=list)
    freed_bytes: int = 0


def _mark_repository(store: RegistryStore, name: str, delete_untagged: bool, result: GCResult) -> set[Digest]:
    revisions = set(store.revisions(name))
    roots: set[Digest] = set()
    for tag in store.tags(name):
        try:
            roots.add(store.resolve(name, tag))
        except NotFound:
            continue
    if not delete_untagged:
        roots |= revisions
    keep: set[Digest] = set()
    todo = [d for d in roots if d in revisions]
    while todo:
        d = todo.pop()
        if d in keep:
            continue
        keep.add(d)
        try:
            m = parse_manifest(store.read_blob(d), store.revision_media_type(name, d), d)
        except (DockyardError, OSError) as exc:
            log.warning("%s@%s: unreadable manifest kept as is: %s", name, d, exc)
            continue
        result.marked.update(b.digest for b in m.blobs)
        todo.extend(c.digest for c in m.children if c.digest in revisions)
        # Referrers of a kept manifest are kept with it (signatures, SBOMs...).
        for ref in store.referrers(name, d):
            try:
                rd = Digest.parse(str(ref.get("digest")))
            except DockyardError:
                continue
            if rd in revisions:
                todo.append(rd)
    result.marked |= keep
    return revisions - keep


def collect(
    store: RegistryStore,
    *,
    dry_run: bool = False,
    delete_untagged: bool = False,
    grace: float = 3600.0,
    clock: Callable[[], float] = time.time,
) -> GCResult:
    """Run one collection; with ``dry_run`` nothing is deleted but the result says what would be."""
    started = clock()
    result = GCResult()
    for name in store.repositories():
        for d in sorted(_mark_repository(store, name, delete_untagged, result)):
            result.deleted_manifests.append((name, d))
            if not dry_run:
                store.delete_manifest(name, d)
    # Manifests that stay are marked; manifests just deleted are not, so their bytes go too.
    for d in store.all_blobs():
        if d in result.marked:
            continue
        info = store.blob_info(d)
        if info is None or started - info[1] < grace:
            continue
        result.deleted_blobs.append(d)
        result.freed_bytes += info[0]
        if not dry_run:
            store.remove_blob(d)
    return result
