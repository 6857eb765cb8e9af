"""Snapshotters: overlayfs layers by chain ID, with a copying fallback."""

from dockyard.snapshots.api import Snapshotter, WhiteoutStyle
from dockyard.snapshots.chain import chain_id, chain_ids
from dockyard.snapshots.overlay import CopySnapshotter, OverlaySnapshotter, disk_usage

__all__ = [
    "CopySnapshotter",
    "OverlaySnapshotter",
    "Snapshotter",
    "WhiteoutStyle",
    "chain_id",
    "chain_ids",
    "disk_usage",
]
