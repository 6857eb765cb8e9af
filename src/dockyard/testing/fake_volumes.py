"""A behavioural fake of the local volume driver's mount table, for tests without root."""

from __future__ import annotations

__all__ = ["FakeVolumeMounter"]


class FakeVolumeMounter:
    """Records mounts by target instead of calling mount(2); unmounting what is not mounted fails like umount."""

    def __init__(self) -> None:
        self.mounted: dict[str, tuple[str, str, tuple[str, ...]]] = {}

    def mount(self, source: str, fstype: str, options: tuple[str, ...], target: str) -> None:
        self.mounted[target] = (source, fstype, options)

    def unmount(self, target: str) -> None:
        if target not in self.mounted:
            raise OSError(22, f"umount {target}: Invalid argument")
        del self.mounted[target]

    def is_mounted(self, target: str) -> bool:
        return target in self.mounted
