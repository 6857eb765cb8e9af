"""Storage drivers behind the ``Driver`` Protocol."""

from dockyard.registry.storage.driver import Driver
from dockyard.registry.storage.filesystem import FilesystemDriver
from dockyard.registry.storage.memory import MemoryDriver

__all__ = ["Driver", "FilesystemDriver", "MemoryDriver"]
