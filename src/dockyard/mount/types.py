"""``Mount``: the lingua franca between storage, volumes and the runtime."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Mount"]


@dataclass(frozen=True)
class Mount:
    """One mount as the OCI runtime spec describes it (``type``, ``source``, ``options``).

    ``target`` is empty for rootfs mounts handed out by a snapshotter, where the
    caller decides where they go.
    """

    type: str
    source: str
    options: tuple[str, ...] = ()
    target: str = ""

    def to_spec(self) -> dict[str, object]:
        """The ``mounts[]`` entry of an OCI runtime config."""
        return {"destination": self.target, "type": self.type, "source": self.source, "options": list(self.options)}
