"""Mounts as values, and the kernel calls that apply them."""

from dockyard.mount.types import Mount

__all__ = ["Mount"]
