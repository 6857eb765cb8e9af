"""The OCI distribution registry server (``dockyard registry``).

Imports only ``dockyard.oci``, ``dockyard.errors`` and libraries: it is a
separate program that happens to live in this package.
"""

from dockyard.registry.app import build_app
from dockyard.registry.config import RegistryConfig, config_from_mapping, load_config
from dockyard.registry.gc import GCResult, collect
from dockyard.registry.server import RunningRegistry, serve
from dockyard.registry.store import RegistryStore

__all__ = [
    "GCResult",
    "RegistryConfig",
    "RegistryStore",
    "RunningRegistry",
    "build_app",
    "collect",
    "config_from_mapping",
    "load_config",
    "serve",
]
