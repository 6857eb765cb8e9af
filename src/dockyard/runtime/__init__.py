"""``dockyard-runtime``: an OCI runtime with runc's command line.

Entry point: :func:`dockyard.runtime.cli.main` (``main(argv) -> int``), safe to call
in a forked child instead of exec'ing; it never calls ``sys.exit`` and leaves the
caller's namespaces as they were. The operations behind it live in
:mod:`dockyard.runtime.container` (``create``, ``start``, ``state``, ``kill``,
``delete``, ``exec_process``, ``pause``, ``resume``, ``ps``); pure decisions (spec
parsing, mount flags, capability/signal/rlimit names, /dev contents, paths) sit in
small modules here, and everything that touches the kernel in :mod:`.linux`.

Kept import-free: the shim imports :mod:`dockyard.runtime.cli` on every container start,
and the CLI's import graph is stdlib + :mod:`dockyard.errors` only.
"""

__all__: list[str] = []
