"""Container prune and the engine's share of ``system df``.

``system prune`` is the client calling each prune endpoint in turn (containers,
networks, volumes, images); this module owns the container one and the image and
container parts of the disk-usage report.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from dockyard import errors
from dockyard.containers.store import ContainerRecord
from dockyard.engine.timefmt import parse_rfc3339, parse_since
from dockyard.images.filters import label_matches
from dockyard.images.formats import summary_json
from dockyard.oci.digest import Digest
from dockyard.snapshots.chain import chain_ids

__all__ = ["ContainerPruner", "EventPublisher", "image_usage", "prunable"]

_FILTERS = frozenset({"until", "label", "label!"})


class EventPublisher(Protocol):
    def publish(self, type_: str, action: str, actor_id: str, attributes: Mapping[str, str] | None = None) -> None: ...


class ContainerSource(Protocol):
    def all(self) -> list[ContainerRecord]: ...

    async def remove(self, ref: str, force: bool = False, volumes: bool = False, link: bool = False) -> None: ...


def prunable(rec: ContainerRecord, filters: Mapping[str, Sequence[str]], now: float | None = None) -> bool:
    """Whether ``container prune`` with ``filters`` removes ``rec``: stopped, old enough, labels as asked (pure)."""
    if rec.state.running or rec.state.status == "removing":
        return False
    labels = dict(rec.config.get("Labels") or {})
    if "label" in filters and not label_matches(labels, list(filters["label"])):
        return False
    if "label!" in filters and any(label_matches(labels, [w]) for w in filters["label!"]):
        return False
    if "until" in filters:
        created = parse_rfc3339(rec.created)
        for value in filters["until"]:
            try:
                limit = parse_since(value, now if now is not None else time.time())
            except ValueError:
                raise errors.InvalidArgument(f"invalid until filter {value!r}") from None
            if created >= limit:
                return False
    return True


class ContainerPruner:
    """``POST /containers/prune``."""

    def __init__(self, containers: ContainerSource, events: EventPublisher, rw_size: Callable[[ContainerRecord], int]):
        self._containers = containers
        self._events = events
        self._rw_size = rw_size

    async def prune(self, filters: Mapping[str, Sequence[str]]) -> dict[str, Any]:
        for key in filters:
            if key not in _FILTERS:
                raise errors.InvalidArgument(f"invalid filter '{key}'")
        now = time.time()
        deleted: list[str] = []
        reclaimed = 0
        for rec in self._containers.all():
            if not prunable(rec, filters, now):
                continue
            size = await asyncio.to_thread(self._rw_size, rec)
            try:
                await self._containers.remove(rec.id)
            except (errors.NotFound, errors.Conflict):
                continue  # removed or started meanwhile
            deleted.append(rec.id)
            reclaimed += size
        self._events.publish("container", "prune", "", {"reclaimed": str(reclaimed)})
        return {"ContainersDeleted": deleted or None, "SpaceReclaimed": reclaimed}


def image_usage(images: Any, containers: Sequence[ContainerRecord]) -> dict[str, Any]:
    """``system df``'s ``LayersSize`` and ``Images`` (with ``Containers`` and ``SharedSize`` filled in)."""
    recs = images.records()
    users: dict[str, int] = {}
    for c in containers:
        users[c.image_id] = users.get(c.image_id, 0) + 1
    chain_users: dict[str, int] = {}
    chain_size: dict[str, int] = {}
    per_image: list[list[str]] = []
    for rec in recs:
        chains = [str(c) for c in chain_ids([Digest.parse(d) for d in rec.diff_ids])]
        per_image.append(chains)
        for chain, size in zip(chains, rec.layer_sizes, strict=False):
            chain_users[chain] = chain_users.get(chain, 0) + 1
            chain_size[chain] = size
    summaries: list[dict[str, Any]] = []
    for rec, chains in zip(recs, per_image, strict=True):
        s = summary_json(rec, users.get(rec.id, 0))
        s["SharedSize"] = sum(chain_size.get(c, 0) for c in chains if chain_users.get(c, 0) > 1)
        summaries.append(s)
    summaries.sort(key=lambda s: (s["Created"], s["Id"]), reverse=True)
    return {"LayersSize": sum(chain_size.values()), "Images": summaries}
