"""The local driver's options (``type``, ``device``, ``o``) as Docker's local driver reads them."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from dockyard.errors import InvalidArgument, NotImplementedYet

__all__ = ["MountOptions", "parse_local_options"]

_VALID = ("type", "device", "o", "size")


@dataclass(frozen=True)
class MountOptions:
    """What to mount at a volume's ``_data`` directory: ``mount -t type -o o device _data``."""

    fstype: str
    device: str
    options: tuple[str, ...]

    @property
    def is_bind(self) -> bool:
        return "bind" in self.options or "rbind" in self.options


def parse_local_options(opts: Mapping[str, str]) -> MountOptions | None:
    """None for a plain directory volume; the mount to make for ``type``/``device``/``o``.

    Errors carry Docker's messages; a bind of a host path that does not exist is
    refused here rather than at the first container start.
    """
    for key in opts:
        if key not in _VALID:
            raise InvalidArgument(f'invalid option: "{key}"')
    if opts.get("size"):
        raise NotImplementedYet("quota size requested but no quota support")
    fstype, device, o = opts.get("type", ""), opts.get("device", ""), opts.get("o", "")
    if not fstype and not device and not o:
        return None
    if fstype and not device:
        raise InvalidArgument('missing required option: "device"')
    if device and not fstype:
        raise InvalidArgument('missing required option: "type"')
    if not fstype:
        raise InvalidArgument('missing required option: "type"')
    parsed = MountOptions(fstype, device, tuple(x for x in o.split(",") if x))
    if parsed.is_bind:
        if not device.startswith("/"):
            raise InvalidArgument(f"invalid device path for a bind volume: {device!r} must be absolute")
        if not os.path.exists(device):
            raise InvalidArgument(f"failed to mount local volume: {device}: no such file or directory")
    return parsed
