"""Volume use cases (create, list, inspect, remove, prune, disk usage) and the container hooks.

``VolumeService`` implements ``engine.hooks.VolumeHooks``: at create it plans a
container's mount points and takes a reference on every volume it uses; at
start it mounts them (copying image content into new, empty volumes) and hands
back ``Mount`` values; at removal it drops the references and, for ``rm -v`` and
``--rm``, removes the anonymous volumes nobody else uses.
"""

from __future__ import annotations

import asyncio
import logging
import os
import posixpath
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from dockyard import errors
from dockyard.containers.create_request import ContainerConfig, HostConfig
from dockyard.containers.rootfs import secure_join
from dockyard.containers.store import ContainerRecord
from dockyard.engine.events import EventBus
from dockyard.mount.types import Mount
from dockyard.volumes.api import ANONYMOUS_LABEL, Volume, VolumeDriver
from dockyard.volumes.copyup import copy_up
from dockyard.volumes.mountpoints import DEFAULT_PROPAGATION, MountPoint, parse_volumes_from, plan_mounts
from dockyard.volumes.names import new_volume_name
from dockyard.volumes.propagation import check_propagation
from dockyard.volumes.store import UserRow, VolumeStore

__all__ = ["VolumeService"]

log = logging.getLogger("dockyard.engine.volumes")

_LIST_FILTERS = ("dangling", "driver", "label", "name")
_PRUNE_FILTERS = ("label", "label!", "all")


def _truthy(values: list[str], key: str) -> bool:
    for v in values:
        if v.lower() in ("1", "true"):
            return True
        if v.lower() in ("0", "false"):
            return False
        raise errors.InvalidArgument(f"invalid filter '{key}={v}'")
    return False


def _label_match(labels: Mapping[str, str], want: str) -> bool:
    key, eq, value = want.partition("=")
    return key in labels and (not eq or labels[key] == value)


def _check_filters(filters: Mapping[str, list[str]], allowed: tuple[str, ...]) -> None:
    for key in filters:
        if key not in allowed:
            raise errors.InvalidArgument(f"invalid filter '{key}'")


class VolumeService:
    def __init__(
        self,
        *,
        store: VolumeStore,
        drivers: Mapping[str, VolumeDriver],
        events: EventBus,
        lookup_container: Callable[[str], ContainerRecord],
    ) -> None:
        self._store = store
        self._drivers = dict(drivers)
        self._events = events
        self._lookup = lookup_container
        self._lock = asyncio.Lock()
        # Volume name -> running containers using it; its filesystem is unmounted when the set empties.
        self._active: dict[str, set[str]] = {}

    # --- helpers -----------------------------------------------------------------

    def _driver(self, name: str) -> VolumeDriver:
        driver = self._drivers.get(name or "local")
        if driver is None:
            raise errors.NotFound(f'error looking up volume plugin {name}: plugin "{name}" not found')
        return driver

    def _find(self, name: str) -> Volume:
        """The volume called ``name``, whichever driver has it."""
        for driver in self._drivers.values():
            try:
                return driver.get(name)
            except errors.NotFound:
                continue
        raise errors.NotFound(f"get {name}: no such volume")

    def _emit(self, action: str, name: str, attrs: Mapping[str, str]) -> None:
        self._events.publish("volume", action, name, attrs)

    def _all(self) -> list[Volume]:
        return [v for d in self._drivers.values() for v in d.list()]

    def _running_users(self, name: str) -> list[str]:
        running = []
        for cid in self._store.users_of_volume(name):
            try:
                if self._lookup(cid).state.running:
                    running.append(cid)
            except errors.NotFound:
                continue
        return running

    # --- use cases ------------------------------------------------------------------

    async def create(
        self,
        name: str = "",
        driver: str = "",
        driver_opts: Mapping[str, str] | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """``POST /volumes/create``: a new volume, or the existing one of that name and driver."""
        vol, created = await self._get_or_create(name, driver or "local", driver_opts or {}, labels or {})
        if not created and vol.driver != (driver or "local"):
            raise errors.Conflict(f"create {name}: volume {name} already exists with driver {vol.driver!r}")
        return vol.to_json()

    async def _get_or_create(
        self, name: str, driver: str, opts: Mapping[str, str], labels: Mapping[str, str]
    ) -> tuple[Volume, bool]:
        async with self._lock:
            if name:
                try:
                    return self._find(name), False
                except errors.NotFound:
                    pass
            d = self._driver(driver)
            vol = await asyncio.to_thread(d.create, name or new_volume_name(), opts, labels)
        self._emit("create", vol.name, {"driver": vol.driver})
        return vol, True

    async def inspect(self, name: str) -> dict[str, Any]:
        return self._find(name).to_json()

    async def list_volumes(self, filters: Mapping[str, list[str]] | None = None) -> dict[str, Any]:
        """``GET /volumes``: filters ``name`` (substring), ``driver``, ``label`` (key or key=value), ``dangling``."""
        filters = {k: v for k, v in (filters or {}).items() if v}
        _check_filters(filters, _LIST_FILTERS)
        refs = self._store.ref_counts()
        out = []
        for vol in self._all():
            if "name" in filters and not any(n in vol.name for n in filters["name"]):
                continue
            if "driver" in filters and vol.driver not in filters["driver"]:
                continue
            if "label" in filters and not all(_label_match(vol.labels, w) for w in filters["label"]):
                continue
            if "dangling" in filters and _truthy(filters["dangling"], "dangling") != (refs.get(vol.name, 0) == 0):
                continue
            out.append(vol.to_json())
        return {"Volumes": out, "Warnings": []}

    async def remove(self, name: str, force: bool = False) -> None:
        """``DELETE /volumes/{name}``: refused while containers use it; ``force`` also takes it from stopped
        containers (never from running ones) and ignores a missing volume."""
        async with self._lock:
            try:
                vol = self._find(name)
            except errors.NotFound:
                if force:
                    return
                raise
            users = self._store.users_of_volume(name)
            blocking = self._running_users(name) if force else users
            if blocking:
                raise errors.InUse(f"remove {name}: volume is in use - [{', '.join(blocking)}]")
            await asyncio.to_thread(self._driver(vol.driver).remove, name)
        self._emit("destroy", name, {"driver": vol.driver})

    async def prune(self, filters: Mapping[str, list[str]] | None = None) -> dict[str, Any]:
        """``POST /volumes/prune``: unused anonymous volumes (all unused ones with ``all=true``)."""
        filters = {k: v for k, v in (filters or {}).items() if v}
        _check_filters(filters, _PRUNE_FILTERS)
        every = _truthy(filters.get("all", []), "all")
        deleted: list[str] = []
        reclaimed = 0
        refs = self._store.ref_counts()
        for vol in self._all():
            if refs.get(vol.name, 0) or not (every or vol.anonymous):
                continue
            if not all(_label_match(vol.labels, w) for w in filters.get("label", [])):
                continue
            if any(_label_match(vol.labels, w) for w in filters.get("label!", [])):
                continue
            driver = self._driver(vol.driver)
            size = await asyncio.to_thread(driver.usage, vol.name)
            try:
                await self.remove(vol.name)
            except errors.DockyardError as e:
                log.info("prune kept volume %s: %s", vol.name, e.message)
                continue
            deleted.append(vol.name)
            reclaimed += size
        self._events.publish("volume", "prune", "", {"reclaimed": str(reclaimed)})
        return {"VolumesDeleted": deleted, "SpaceReclaimed": reclaimed}

    async def disk_usage(self) -> list[dict[str, Any]]:
        """Volumes as ``GET /system/df`` lists them, with ``UsageData`` (Size, RefCount)."""
        refs = self._store.ref_counts()
        out = []
        for vol in self._all():
            size = await asyncio.to_thread(self._driver(vol.driver).usage, vol.name)
            out.append({**vol.to_json(), "UsageData": {"Size": size, "RefCount": refs.get(vol.name, 0)}})
        return out

    def host_paths(self, container_id: str) -> list[tuple[str, str, bool]]:
        """(destination, host path, writable) of the container's volumes and binds, deepest last: for
        reading and writing container paths from the host (``docker cp`` through a volume)."""
        out = []
        for user in self._store.users_of_container(container_id):
            p = MountPoint.from_record(user.data)
            if p.type in ("bind", "volume") and p.source:
                out.append((p.destination, p.source, p.rw))
        return sorted(out, key=lambda t: len([c for c in t[0].split("/") if c]))

    def reconcile(self, container_ids: Iterable[str]) -> None:
        """At daemon start: drop references held by containers that no longer exist (a create or removal
        cut short), and note which volumes running containers hold mounted."""
        alive = set(container_ids)
        for cid in self._store.container_ids() - alive:
            self._store.release_container(cid)
        for cid in alive:
            try:
                running = self._lookup(cid).state.running
            except errors.NotFound:
                continue
            if running:
                for user in self._store.users_of_container(cid):
                    if user.volume:
                        self._active.setdefault(user.volume, set()).add(cid)

    # --- container hooks ----------------------------------------------------------------

    async def on_create(
        self, container_id: str, config: ContainerConfig, host_config: HostConfig, image_config: Mapping[str, Any]
    ) -> tuple[Mapping[str, Any], ...]:
        inherited = []
        for entry in host_config.volumes_from or ():
            ref, mode = parse_volumes_from(entry)
            other = self._lookup(ref)
            points = [MountPoint.from_record(u.data) for u in self._store.users_of_container(other.id)]
            inherited.append((points, mode))
        planned = plan_mounts(config, host_config, inherited)
        for p in planned:
            if p.type == "bind" and not p.create_source and not os.path.exists(p.source):
                raise errors.InvalidArgument(
                    f'invalid mount config for type "bind": bind source path does not exist: {p.source}'
                )
        created: list[str] = []
        resolved: list[MountPoint] = []
        try:
            for p in planned:
                if p.type == "volume":
                    labels = {**p.labels, ANONYMOUS_LABEL: ""} if p.anonymous else dict(p.labels)
                    vol, new = await self._get_or_create(p.name, p.driver, p.driver_options, labels)
                    if new:
                        created.append(vol.name)
                    p = MountPoint.from_record(
                        {**p.to_record(), "name": vol.name, "source": vol.mountpoint, "driver": vol.driver}
                    )
                resolved.append(p)
            rows = [
                UserRow(container_id, p.destination, p.name if p.type == "volume" else "", False, p.to_record())
                for p in resolved
            ]
            self._store.add_users(rows)
        except BaseException:
            for name in created:
                try:
                    await self.remove(name)
                except errors.DockyardError:
                    log.warning("could not remove volume %s after a failed create", name)
            raise
        return tuple(p.to_json() for p in resolved)

    async def mounts_for_start(self, rec: ContainerRecord, rootfs: str) -> tuple[Mount, ...]:
        mounts: list[Mount] = []
        for user in self._store.users_of_container(rec.id):
            p = MountPoint.from_record(user.data)
            if p.type == "tmpfs":
                continue  # the spec generator builds tmpfs mounts from HostConfig itself
            propagation = p.propagation or DEFAULT_PROPAGATION
            if p.type == "bind":
                source = await asyncio.to_thread(self._bind_source, p)
            else:
                try:
                    source = await asyncio.to_thread(self._driver(p.driver).mount, p.name)
                except errors.NotFound:
                    # Force-removed while this container was stopped: it starts with a new, empty one.
                    await self._get_or_create(p.name, p.driver, p.driver_options, p.labels)
                    source = await asyncio.to_thread(self._driver(p.driver).mount, p.name)
                self._active.setdefault(p.name, set()).add(rec.id)
                if p.copy_data and not user.copied:
                    image_path = secure_join(rootfs, p.destination)
                    await asyncio.to_thread(copy_up, image_path, source)
                    self._store.mark_copied(rec.id, p.destination)
                self._emit(
                    "mount",
                    p.name,
                    {
                        "driver": p.driver,
                        "container": rec.id,
                        "destination": p.destination,
                        "read/write": str(p.rw).lower(),
                        "propagation": p.propagation,
                    },
                )
            options = ("rbind", "rprivate") if p.rw else ("rbind", "ro", "rprivate")
            if propagation != DEFAULT_PROPAGATION:
                options = (*options[:-1], propagation)
            mounts.append(Mount("bind", source, options, p.destination))
        return tuple(sorted(mounts, key=lambda m: len([c for c in posixpath.normpath(m.target).split("/") if c])))

    @staticmethod
    def _bind_source(p: MountPoint) -> str:
        if not os.path.exists(p.source):
            if not p.create_source:
                raise errors.InvalidArgument(
                    f'invalid mount config for type "bind": bind source path does not exist: {p.source}'
                )
            os.makedirs(p.source, mode=0o755, exist_ok=True)
        check_propagation(p.source, p.propagation)
        return p.source

    async def on_stop(self, rec: ContainerRecord) -> None:
        held = {u.volume: u for u in self._store.users_of_container(rec.id) if u.volume}
        for user in held.values():
            driver = str(user.data.get("driver") or "local")
            self._emit("unmount", user.volume, {"container": rec.id, "driver": driver})
            users = self._active.get(user.volume, set())
            users.discard(rec.id)
            if users:
                continue
            self._active.pop(user.volume, None)
            try:
                await asyncio.to_thread(self._driver(driver).unmount, user.volume)
            except errors.NotFound:
                continue

    async def on_remove(self, rec: ContainerRecord, remove_volumes: bool) -> None:
        released = self._store.release_container(rec.id)
        if not remove_volumes:
            return
        for name in dict.fromkeys(u.volume for u in released if u.volume):
            try:
                vol = self._find(name)
            except errors.NotFound:
                continue
            if not vol.anonymous:
                continue  # named volumes are only removed by name
            try:
                await self.remove(name)
            except errors.InUse:
                log.info("anonymous volume %s is still used by another container; kept", name)
