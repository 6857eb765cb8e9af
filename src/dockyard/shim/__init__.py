"""``dockyard-shim``: the per-container process that holds a container's stdio and exit status.

A separate program: it imports only the stdlib and its own modules (``main``,
``server``, ``protocol``, ``config``, ``runtime``, ``mounts``, ``jsonlog``,
``exitfile``), so that it starts fast and stays small. Nothing is imported here.
"""

__all__: list[str] = []
