"""Errors of the task layer (each inherits one ``dockyard.errors`` category)."""

from __future__ import annotations

from dockyard.errors import Internal, Unavailable

__all__ = ["RuntimeFailed", "ShimUnavailable"]


class RuntimeFailed(Internal):
    """The OCI runtime refused to create or start the container; ``message`` is what it said.

    The engine turns "executable file not found" into exit code 127 and
    "permission denied" into 126, as Docker does.
    """


class ShimUnavailable(Unavailable):
    """The container's shim cannot be started or reached."""
