"""``dockyard-runtime``: an OCI runtime with runc's command line (see :mod:`dockyard.runtime.cli`).

Kept import-free: the shim imports :mod:`dockyard.runtime.cli` on every container start.
"""

__all__: list[str] = []
