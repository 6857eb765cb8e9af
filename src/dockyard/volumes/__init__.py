"""Volumes: the local driver, its metadata and reference counts, copy-up, and mount planning."""

from dockyard.volumes.api import ANONYMOUS_LABEL, Volume, VolumeDriver, VolumeMounter
from dockyard.volumes.copyup import copy_up
from dockyard.volumes.local import KernelVolumeMounter, LocalDriver
from dockyard.volumes.mountpoints import MountPoint, parse_volumes_from, plan_mounts
from dockyard.volumes.names import new_volume_name, validate_volume_name
from dockyard.volumes.options import MountOptions, parse_local_options
from dockyard.volumes.store import UserRow, VolumeRow, VolumeStore

__all__ = [
    "ANONYMOUS_LABEL",
    "KernelVolumeMounter",
    "LocalDriver",
    "MountOptions",
    "MountPoint",
    "UserRow",
    "Volume",
    "VolumeDriver",
    "VolumeMounter",
    "VolumeRow",
    "VolumeStore",
    "copy_up",
    "new_volume_name",
    "parse_local_options",
    "parse_volumes_from",
    "plan_mounts",
    "validate_volume_name",
]
