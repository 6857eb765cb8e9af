"""overlayfs snapshots: ``<root>/<id>/{fs,work}``, indexed by key in ``<root>/metadata.db``.

Directory names are small integers so a ``lowerdir=`` list of many layers stays
well below the kernel's one-page limit for mount options.
"""

from __future__ import annotations

import os
import shutil

from dockyard import errors
from dockyard.idmaps import IdMaps
from dockyard.mount.types import Mount
from dockyard.snapshots.api import WhiteoutStyle
from dockyard.snapshots.index import SnapshotIndex, SnapshotInfo

__all__ = ["CopySnapshotter", "OverlaySnapshotter", "disk_usage"]


def disk_usage(path: str) -> int:
    """Apparent bytes of the files under ``path``, each hard-linked inode counted once."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for dirpath, dirnames, filenames in os.walk(path):
        for name in dirnames + filenames:
            try:
                st = os.lstat(os.path.join(dirpath, name))
            except FileNotFoundError:
                continue
            key = (st.st_dev, st.st_ino)
            if key in seen:
                continue
            seen.add(key)
            if not os.path.isdir(os.path.join(dirpath, name)) or os.path.islink(os.path.join(dirpath, name)):
                total += st.st_size
    return total


class _DirSnapshotter:
    """What the overlay and copy snapshotters share: the index and the directory layout."""

    whiteout_style: WhiteoutStyle = "overlay"

    def __init__(self, root: str, ids: IdMaps | None = None) -> None:
        self.root = root
        self.ids = ids
        self._dirs = root
        os.makedirs(root, exist_ok=True)
        self.index = SnapshotIndex(os.path.join(root, "metadata.db"))
        self._sweep()

    def _dir(self, sid: int) -> str:
        return os.path.join(self._dirs, str(sid))

    def _fs(self, info: SnapshotInfo) -> str:
        return os.path.join(self._dir(info.id), "fs")

    def _sweep(self) -> None:
        """Remove directories a crash left without an index row (or half-removed)."""
        known = self.index.ids()
        for name in os.listdir(self._dirs):
            path = os.path.join(self._dirs, name)
            if os.path.isdir(path) and not os.path.islink(path) and (not name.isdigit() or int(name) not in known):
                shutil.rmtree(path, ignore_errors=True)

    def _create(self, key: str, kind: str, parent: str | None) -> SnapshotInfo:
        info = self.index.create(key, kind, parent)
        try:
            d = self._dir(info.id)
            shutil.rmtree(d, ignore_errors=True)
            os.makedirs(os.path.join(d, "fs"), 0o755)
            os.chmod(os.path.join(d, "fs"), 0o755)
            if self.ids is not None:  # a remapped root owns its / (an overlay's / is its upper's)
                os.chown(os.path.join(d, "fs"), *self.ids.root)
            os.makedirs(os.path.join(d, "work"), 0o700)
            self._populate(info)
        except BaseException:
            self.index.delete(key)
            shutil.rmtree(self._dir(info.id), ignore_errors=True)
            raise
        return info

    def _populate(self, info: SnapshotInfo) -> None:
        """Hook: fill a new snapshot's fs (the copy snapshotter copies its parent)."""

    def prepare(self, key: str, parent: str | None) -> list[Mount]:
        return self._mounts(self._create(key, "active", parent))

    def view(self, key: str, parent: str | None) -> list[Mount]:
        return self._mounts(self._create(key, "view", parent))

    def mounts(self, key: str) -> list[Mount]:
        return self._mounts(self.index.get(key))

    def commit(self, name: str, key: str) -> None:
        info = self.index.commit(name, key)
        # The work dir is only needed while the snapshot is an overlay upper.
        shutil.rmtree(os.path.join(self._dir(info.id), "work"), ignore_errors=True)

    def remove(self, key: str) -> None:
        info = self.index.delete(key)
        d = self._dir(info.id)
        # Rename first so a crash mid-delete never leaves a half tree under a live id.
        trash = os.path.join(self._dirs, f"rm-{info.id}")
        try:
            os.rename(d, trash)
        except FileNotFoundError:
            return
        shutil.rmtree(trash, ignore_errors=True)

    def exists(self, key: str) -> bool:
        return self.index.find(key) is not None

    def parent(self, key: str) -> str | None:
        return self.index.get(key).parent

    def all_keys(self) -> list[str]:
        return self.index.keys()

    def upper_dir(self, key: str) -> str:
        return self._fs(self.index.get(key))

    def usage(self, key: str) -> int:
        return disk_usage(self._fs(self.index.get(key)))

    def _mounts(self, info: SnapshotInfo) -> list[Mount]:
        raise NotImplementedError


class OverlaySnapshotter(_DirSnapshotter):
    """Active snapshots are overlay upper dirs over their committed parents' fs dirs."""

    whiteout_style: WhiteoutStyle = "overlay"

    def _mounts(self, info: SnapshotInfo) -> list[Mount]:
        lowers = [self._fs(p) for p in self.index.chain(info.parent)] if info.parent else []
        if info.kind == "view":
            if not lowers:
                return [Mount("bind", self._fs(info), ("rbind", "ro"))]
            if len(lowers) == 1:
                return [Mount("bind", lowers[0], ("rbind", "ro"))]
            # overlay with only lowers (two or more) is read-only by construction
            return [Mount("overlay", "overlay", ("lowerdir=" + ":".join(lowers),))]
        if not lowers:
            rw = "ro" if info.kind == "committed" else "rw"
            return [Mount("bind", self._fs(info), ("rbind", rw))]
        if info.kind == "committed":
            return [Mount("overlay", "overlay", ("lowerdir=" + ":".join([self._fs(info), *lowers]),))]
        return [
            Mount(
                "overlay",
                "overlay",
                (
                    "lowerdir=" + ":".join(lowers),
                    f"upperdir={self._fs(info)}",
                    f"workdir={os.path.join(self._dir(info.id), 'work')}",
                ),
            )
        ]


class CopySnapshotter(_DirSnapshotter):
    """Where overlayfs is missing: every snapshot is a full copy of its parent.

    ``upper_dir`` is then the whole tree, and layers are applied with real deletions.
    """

    whiteout_style: WhiteoutStyle = "remove"

    def _populate(self, info: SnapshotInfo) -> None:
        if info.parent is None or info.kind == "view":
            return
        src = self._fs(self.index.get(info.parent))
        dst = self._fs(info)
        # cp -a keeps owners, modes, xattrs, hard links and device nodes in one go.
        rc = os.spawnvp(os.P_WAIT, "cp", ["cp", "-a", "--", src + "/.", dst])
        if rc != 0:
            raise errors.Internal(f"copying snapshot {info.parent} failed (cp exit {rc})")

    def _mounts(self, info: SnapshotInfo) -> list[Mount]:
        if info.kind == "view" and info.parent is not None:
            return [Mount("bind", self._fs(self.index.get(info.parent)), ("rbind", "ro"))]
        rw = "rw" if info.kind == "active" else "ro"
        return [Mount("bind", self._fs(info), ("rbind", rw))]
