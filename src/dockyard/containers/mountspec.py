"""``HostConfig.Mounts`` entries (``--mount``) and parsed ``-v`` binds, as values."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["BindOptions", "MountSpec", "TmpfsOptions", "VolumeOptions"]


@dataclass(frozen=True)
class BindOptions:
    propagation: str = ""
    non_recursive: bool = False
    create_mountpoint: bool = False
    read_only_non_recursive: bool = False
    read_only_force_recursive: bool = False


@dataclass(frozen=True)
class VolumeOptions:
    no_copy: bool = False
    labels: Mapping[str, str] | None = None
    driver_name: str = ""
    driver_options: Mapping[str, str] | None = None
    subpath: str = ""


@dataclass(frozen=True)
class TmpfsOptions:
    size_bytes: int = 0
    mode: int = 0


@dataclass(frozen=True)
class MountSpec:
    """One ``HostConfig.Mounts`` entry (``--mount``), validated but not yet resolved."""

    type: str
    target: str
    source: str = ""
    read_only: bool = False
    consistency: str = ""
    bind_options: BindOptions | None = None
    volume_options: VolumeOptions | None = None
    tmpfs_options: TmpfsOptions | None = None
