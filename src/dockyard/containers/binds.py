"""``HostConfig.Binds`` entries (``-v src:dst[:mode]``) read as Docker's Linux parser reads them."""

from __future__ import annotations

import posixpath

from dockyard.containers.mountspec import BindOptions, MountSpec, VolumeOptions
from dockyard.errors import InvalidArgument

__all__ = ["parse_bind", "valid_mount_mode"]

_ACCESS = {"rw", "ro"}
_PROPAGATION = {"private", "rprivate", "shared", "rshared", "slave", "rslave"}
_LABEL = {"z", "Z"}
_COPY = {"nocopy"}
_CONSISTENCY = {"consistent", "cached", "delegated"}


def valid_mount_mode(mode: str) -> bool:
    """Comma-separated options with at most one of each kind (access, propagation, label, copy, consistency)."""
    if mode == "":
        return True
    seen: set[str] = set()
    for option in mode.split(","):
        for kind, values in (
            ("access", _ACCESS),
            ("propagation", _PROPAGATION),
            ("label", _LABEL),
            ("copy", _COPY),
            ("consistency", _CONSISTENCY),
        ):
            if option in values:
                if kind in seen:
                    return False
                seen.add(kind)
                break
        else:
            return False
    return True


def parse_bind(raw: str, volume_driver: str = "") -> MountSpec:
    """A ``-v`` entry as a mount: an absolute source is a bind, anything else a (named or anonymous) volume.

    ``"/data"`` alone is an anonymous volume at /data; ``"name:/data:ro,nocopy"`` a
    named one. Errors carry Docker's messages.
    """
    invalid = InvalidArgument(f"invalid volume specification: '{raw}'")
    parts = raw.split(":", 3)
    if parts[0] == "":
        raise invalid
    source, mode = "", ""
    if len(parts) == 1:
        target = parts[0]
    elif len(parts) == 2:
        if valid_mount_mode(parts[1]):
            raise invalid  # "/foo:rw": a destination with a mode is not a volume
        source, target = parts
    elif len(parts) == 3:
        source, target, mode = parts
    else:
        raise invalid
    if not valid_mount_mode(mode):
        raise InvalidArgument(f"invalid mode: {mode}")

    options = set(mode.split(",")) if mode else set()
    kind = "bind" if source.startswith("/") else "volume"
    if not target.startswith("/"):
        raise InvalidArgument(
            f"invalid volume specification: '{raw}': invalid mount config for type \"{kind}\": "
            f"invalid mount path: '{target}' mount path must be absolute"
        )
    if posixpath.normpath(target) == "/":
        raise InvalidArgument(f"invalid volume specification: '{raw}': invalid specification: destination can't be '/'")
    if kind == "bind" and "nocopy" in options:
        raise InvalidArgument(
            f"invalid volume specification: '{raw}': invalid mount config for type \"bind\": "
            "field VolumeOptions must not be specified"
        )
    propagation = next((o for o in options if o in _PROPAGATION), "")
    volume_options = None
    if kind == "volume" and (volume_driver or "nocopy" in options):
        volume_options = VolumeOptions(no_copy="nocopy" in options, driver_name=volume_driver)
    return MountSpec(
        type=kind,
        target=posixpath.normpath(target),
        source=source,
        read_only="ro" in options,
        bind_options=BindOptions(propagation=propagation) if propagation else None,
        volume_options=volume_options,
    )
