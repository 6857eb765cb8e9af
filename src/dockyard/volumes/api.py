"""Volumes as values, and the seam a volume driver implements."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = ["ANONYMOUS_LABEL", "Volume", "VolumeDriver", "VolumeMounter"]

# Docker marks volumes it created for a container (image VOLUME, ``-v /path``) with this label;
# ``rm -v``, ``--rm`` and a default ``volume prune`` remove only those.
ANONYMOUS_LABEL = "com.docker.volume.anonymous"


@dataclass(frozen=True)
class Volume:
    name: str
    driver: str
    mountpoint: str
    created_at: str
    labels: Mapping[str, str] = field(default_factory=dict)
    options: Mapping[str, str] = field(default_factory=dict)
    scope: str = "local"

    @property
    def anonymous(self) -> bool:
        return ANONYMOUS_LABEL in self.labels

    def to_json(self) -> dict[str, Any]:
        """Docker's ``volume.Volume`` (empty label and option maps are ``null``, as dockerd shows them)."""
        return {
            "CreatedAt": self.created_at,
            "Driver": self.driver,
            "Labels": dict(self.labels) or None,
            "Mountpoint": self.mountpoint,
            "Name": self.name,
            "Options": dict(self.options) or None,
            "Scope": self.scope,
        }


class VolumeDriver(Protocol):
    """Creates, finds, mounts and removes volumes of one driver.

    ``mount`` returns the host directory to bind into containers, mounting the
    volume's own filesystem first when its options ask for one; ``unmount`` undoes
    that once no container uses it; ``remove`` unmounts and deletes the data.
    Unknown names raise ``NotFound``.
    """

    name: str

    def create(self, name: str, options: Mapping[str, str], labels: Mapping[str, str]) -> Volume: ...

    def get(self, name: str) -> Volume: ...

    def list(self) -> list[Volume]: ...

    def remove(self, name: str) -> None: ...

    def mount(self, name: str) -> str: ...

    def unmount(self, name: str) -> None: ...

    def usage(self, name: str) -> int: ...


class VolumeMounter(Protocol):
    """The kernel's mount table as the local driver needs it (a fake stands in for unit tests)."""

    def mount(self, source: str, fstype: str, options: tuple[str, ...], target: str) -> None: ...

    def unmount(self, target: str) -> None: ...

    def is_mounted(self, target: str) -> bool: ...
