"""Snapshotter: layered filesystems by key (containerd's model, simplified)."""

from __future__ import annotations

from typing import Literal, Protocol

from dockyard.idmaps import IdMaps
from dockyard.mount.types import Mount

__all__ = ["Snapshotter", "WhiteoutStyle"]

# How layer whiteouts must be written into ``upper_dir``: overlayfs markers, or real
# deletions when the active dir is a full copy of its parents (copy snapshotter).
WhiteoutStyle = Literal["overlay", "remove"]


class Snapshotter(Protocol):
    """Committed snapshots are read-only layers named by chain ID; active ones are
    writable upper layers (a container's rootfs, a layer being unpacked).

    ``prepare`` returns the mounts that make ``key`` visible; ``commit`` turns an
    active snapshot into a committed one; ``remove`` deletes either kind (a
    committed one only when nothing has it as parent). Parents must be committed.
    Unknown keys raise ``errors.NotFound``; taken keys ``errors.Conflict``.
    """

    whiteout_style: WhiteoutStyle
    # Owners are stored shifted into this range (``userns-remap``); None: as the layers say.
    ids: IdMaps | None

    def prepare(self, key: str, parent: str | None) -> list[Mount]: ...

    def view(self, key: str, parent: str | None) -> list[Mount]: ...

    def mounts(self, key: str) -> list[Mount]: ...

    def commit(self, name: str, key: str) -> None: ...

    def remove(self, key: str) -> None: ...

    def exists(self, key: str) -> bool: ...

    def parent(self, key: str) -> str | None: ...

    def all_keys(self) -> list[str]:
        """Every snapshot key, oldest first."""
        ...

    def upper_dir(self, key: str) -> str:
        """The directory holding an active snapshot's changes (for diff/commit/changes)."""
        ...

    def usage(self, key: str) -> int:
        """Bytes used by this snapshot's own layer."""
        ...
