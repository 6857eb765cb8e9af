"""Log drivers: the names dockerd knows, the options each takes, and which ones dockyard keeps a
file for (and can therefore read back through the logs API and attach)."""

from __future__ import annotations

import os
from collections.abc import Mapping

from dockyard import errors

__all__ = [
    "DEFAULT_DRIVER",
    "READABLE",
    "REGISTERED",
    "inspect_log_path",
    "log_path",
    "rotation_defaults",
    "validate",
]

DEFAULT_DRIVER = "json-file"

# dockerd's built-in drivers on Linux (what /info lists, plus "none").
REGISTERED = frozenset(
    {
        "awslogs",
        "fluentd",
        "gcplogs",
        "gelf",
        "journald",
        "json-file",
        "local",
        "logentries",
        "none",
        "splunk",
        "syslog",
    }
)

# Drivers whose output dockyard keeps in a file of its own. `local` uses the json-file writer: its
# on-disk format is private in dockerd too (its inspect shows no LogPath).
READABLE = frozenset({"json-file", "local"})

_COMMON_OPTS = frozenset({"mode", "max-buffer-size"})  # handled by the daemon for every driver
_DRIVER_OPTS: Mapping[str, frozenset[str]] = {
    "json-file": frozenset({"max-file", "max-size", "compress", "labels", "labels-regex", "env", "env-regex", "tag"}),
    "local": frozenset({"max-file", "max-size", "compress"}),
}
_LOCAL_ROTATION = {"max-size": "20m", "max-file": "5"}  # dockerd's defaults for `local`


def validate(driver: str, opts: Mapping[str, str]) -> None:
    """Reject what dockerd rejects at create: an unknown driver, an unknown logging mode, or an
    option the driver doesn't take (for the drivers dockyard implements)."""
    driver = driver or DEFAULT_DRIVER
    if driver == "none":
        return
    mode = opts.get("mode", "")
    if mode not in ("", "blocking", "non-blocking"):
        raise errors.InvalidArgument(f"logger: logging mode not supported: {mode}")
    if "max-buffer-size" in opts and mode != "non-blocking":
        raise errors.InvalidArgument("logger: max-buffer-size option is only supported with 'mode=non-blocking'")
    if driver not in REGISTERED:
        raise errors.InvalidArgument(f"logger: no log driver named '{driver}' is registered")
    allowed = _DRIVER_OPTS.get(driver)
    if allowed is None:
        return
    for key in sorted(opts):
        if key not in allowed and key not in _COMMON_OPTS:
            where = "json-file log driver" if driver == "json-file" else f"log driver {driver}"
            raise errors.InvalidArgument(f"unknown log opt '{key}' for {where}")


def log_path(container_dir: str, driver: str, container_id: str) -> str:
    """The container's log file in its directory, or ``""`` when the driver keeps none."""
    driver = driver or DEFAULT_DRIVER
    if driver == "json-file":
        return os.path.join(container_dir, f"{container_id}-json.log")
    if driver == "local":
        return os.path.join(container_dir, f"{container_id}-local.log")
    return ""


def rotation_defaults(driver: str) -> Mapping[str, str]:
    """Rotation options a driver has unless the container sets them (`local` always rotates)."""
    return _LOCAL_ROTATION if driver == "local" else {}


def inspect_log_path(driver: str, path: str) -> str:
    """``LogPath`` in inspect: only json-file's file is part of the API."""
    return path if (driver or DEFAULT_DRIVER) == "json-file" else ""
