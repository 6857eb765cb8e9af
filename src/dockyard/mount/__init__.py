"""Mounts as values, and the kernel calls that apply them (``dockyard.mount.linux``)."""

from dockyard.mount.types import Mount

__all__ = ["Mount"]
