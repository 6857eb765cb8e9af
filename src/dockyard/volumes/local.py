"""Docker's ``local`` volume driver: ``<root>/<name>/_data``, optionally with its own filesystem mounted there."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import threading
from collections.abc import Mapping
from datetime import UTC, datetime

from dockyard import errors
from dockyard.volumes.api import Volume, VolumeMounter
from dockyard.volumes.names import validate_volume_name
from dockyard.volumes.options import parse_local_options
from dockyard.volumes.size import directory_size
from dockyard.volumes.store import VolumeRow, VolumeStore

__all__ = ["KernelVolumeMounter", "LocalDriver", "is_mount_point"]


class KernelVolumeMounter:
    """mount(2) through ``dockyard.mount.linux``."""

    def mount(self, source: str, fstype: str, options: tuple[str, ...], target: str) -> None:
        from dockyard.mount.linux import mount
        from dockyard.mount.types import Mount

        try:
            mount(Mount(fstype, source, options), target)
        except OSError as e:
            raise errors.InvalidArgument(f"failed to mount local volume: {e.strerror or e}") from None

    def unmount(self, target: str) -> None:
        from dockyard.mount.linux import MNT_DETACH, unmount

        unmount(target, MNT_DETACH)

    def is_mounted(self, target: str) -> bool:
        # Not os.path.ismount: a bind mount from the same filesystem keeps st_dev and fools it.
        return is_mount_point(target)


def is_mount_point(path: str) -> bool:
    """Whether something is mounted exactly at ``path``, as /proc/self/mountinfo says."""
    from dockyard.volumes.propagation import parse_mountinfo_line

    want = os.path.realpath(path)
    with open("/proc/self/mountinfo") as f:
        return any(line.strip() and parse_mountinfo_line(line)[0] == want for line in f)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class LocalDriver:
    name = "local"

    def __init__(
        self, root: str, store: VolumeStore, mounter: VolumeMounter, owner: tuple[int, int] | None = None
    ) -> None:
        self.root = root
        self._store = store
        self._mounter = mounter
        self._owner = owner  # a remapped root's uid/gid (userns-remap) owns new volumes
        self._lock = threading.Lock()
        os.makedirs(root, mode=0o701, exist_ok=True)

    def data_dir(self, name: str) -> str:
        return os.path.join(self.root, name, "_data")

    def _make_data_dir(self, name: str) -> str:
        path = self.data_dir(name)
        if not os.path.isdir(path):
            os.makedirs(path, mode=0o755, exist_ok=True)
            if self._owner is not None:
                os.chown(path, *self._owner)
        return path

    def _volume(self, row: VolumeRow) -> Volume:
        return Volume(
            name=row.name,
            driver=row.driver,
            mountpoint=self.data_dir(row.name),
            created_at=row.created_at,
            labels=dict(row.labels),
            options=dict(row.options),
        )

    def create(self, name: str, options: Mapping[str, str], labels: Mapping[str, str]) -> Volume:
        validate_volume_name(name)
        parse_local_options(options)
        with self._lock:
            existing = self._store.get_volume(name)
            if existing is not None:
                return self._volume(existing)
            # The directory comes first: a crash before the row leaves an unused directory, never a
            # volume without one. A leftover directory of that name is reused, data and all.
            self._make_data_dir(name)
            row = VolumeRow(name=name, driver=self.name, created_at=_now(), labels=dict(labels), options=dict(options))
            self._store.add_volume(row)
            return self._volume(row)

    def get(self, name: str) -> Volume:
        row = self._store.get_volume(name)
        if row is None:
            raise errors.NotFound(f"get {name}: no such volume")
        return self._volume(row)

    def list(self) -> list[Volume]:
        return [self._volume(r) for r in self._store.volumes()]

    def mount(self, name: str) -> str:
        vol = self.get(name)
        path = self._make_data_dir(name)
        opts = parse_local_options(vol.options)
        if opts is not None:
            with self._lock:
                if not self._mounter.is_mounted(path):
                    self._mounter.mount(opts.device, opts.fstype, opts.options, path)
        return path

    def unmount(self, name: str) -> None:
        """Unmount the volume's own filesystem (a tmpfs volume loses its data, as in Docker)."""
        vol = self.get(name)
        path = self.data_dir(name)
        if parse_local_options(vol.options) is not None:
            with self._lock:
                if self._mounter.is_mounted(path):
                    self._mounter.unmount(path)

    def remove(self, name: str) -> None:
        self.get(name)
        path = self.data_dir(name)
        with self._lock:
            for _ in range(16):  # a few stacked mounts at most; never loop forever
                if not self._mounter.is_mounted(path):
                    break
                self._mounter.unmount(path)
            if self._mounter.is_mounted(path):
                # Deleting now would delete the mounted filesystem's (maybe a host directory's) files.
                raise errors.Internal(f"remove {name}: {path} is still mounted")
            # Renamed away before the row goes, so a crash never leaves old data under a reusable name.
            trash = os.path.join(self.root, f".removing-{secrets.token_hex(8)}")
            with contextlib.suppress(FileNotFoundError):
                os.rename(os.path.join(self.root, name), trash)
            self._store.delete_volume(name)
        shutil.rmtree(trash, ignore_errors=True)

    def usage(self, name: str) -> int:
        self.get(name)
        return directory_size(self.data_dir(name))

    def sweep(self) -> None:
        """Delete what removals interrupted by a crash left behind."""
        for entry in os.listdir(self.root):
            if entry.startswith(".removing-"):
                shutil.rmtree(os.path.join(self.root, entry), ignore_errors=True)
