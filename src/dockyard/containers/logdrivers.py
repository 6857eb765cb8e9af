"""Log drivers: the names dockerd knows, the options each takes, and which ones dockyard keeps a
file for (and can therefore read back through the logs API and attach)."""

from __future__ import annotations

import os
from collections.abc import Mapping

from dockyard import errors

__all__ = [
    "DEFAULT_DRIVER",
    "IMPLEMENTED",
    "READABLE",
    "REGISTERED",
    "inspect_log_path",
    "log_path",
    "remote_target",
    "render_tag",
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

# What dockyard can write to (syslog and gelf from the shim); the other drivers dockerd knows are
# refused at create rather than have the container's output silently dropped.
IMPLEMENTED = frozenset({"json-file", "local", "none", "syslog", "gelf"})

# Drivers whose output dockyard keeps in a file of its own. `local` uses the json-file writer: its
# on-disk format is private in dockerd too (its inspect shows no LogPath).
READABLE = frozenset({"json-file", "local"})

_COMMON_OPTS = frozenset({"mode", "max-buffer-size"})  # handled by the daemon for every driver
_DRIVER_OPTS: Mapping[str, frozenset[str]] = {
    "json-file": frozenset({"max-file", "max-size", "compress", "labels", "labels-regex", "env", "env-regex", "tag"}),
    "local": frozenset({"max-file", "max-size", "compress"}),
    "syslog": frozenset(
        {"syslog-address", "syslog-facility", "syslog-format", "tag", "labels", "labels-regex", "env", "env-regex"}
        | {"syslog-tls-ca-cert", "syslog-tls-cert", "syslog-tls-key", "syslog-tls-skip-verify"}
        | {"cache-disabled", "cache-max-size", "cache-max-file", "cache-compress"}
    ),
    "gelf": frozenset(
        {"gelf-address", "gelf-compression-type", "gelf-compression-level", "gelf-tcp-max-reconnect"}
        | {"gelf-tcp-reconnect-delay", "tag", "labels", "labels-regex", "env", "env-regex"}
        | {"cache-disabled", "cache-max-size", "cache-max-file", "cache-compress"}
    ),
}
# dockerd's dual logging: a remote driver's lines are also kept in a local cache `docker logs` reads.
_CACHE_ROTATION = {"max-size": "20m", "max-file": "5"}
_SYSLOG_FACILITIES = frozenset(
    {"kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "authpriv", "ftp"}
    | {f"local{i}" for i in range(8)}
)
_SYSLOG_FORMATS = frozenset({"", "rfc3164", "rfc5424", "rfc5424micro"})
_SYSLOG_SCHEMES = ("udp://", "tcp://", "unix://", "unixgram://")
_DEFAULT_TAG = "{{.ID}}"
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
    if driver not in IMPLEMENTED:
        raise errors.InvalidArgument(
            f"logger: the {driver} log driver is not available in dockyard (json-file, local, syslog and none are)"
        )
    allowed = _DRIVER_OPTS.get(driver)
    if allowed is None:
        return
    for key in sorted(opts):
        if key not in allowed and key not in _COMMON_OPTS:
            where = "json-file log driver" if driver == "json-file" else f"log driver {driver}"
            raise errors.InvalidArgument(f"unknown log opt '{key}' for {where}")
    if driver == "syslog":
        _validate_syslog(opts)
    if driver == "gelf":
        _validate_gelf(opts)


def _validate_gelf(opts: Mapping[str, str]) -> None:
    address = opts.get("gelf-address", "")
    if not address:
        raise errors.InvalidArgument("gelf-address is a required parameter")
    scheme, sep, rest = address.partition("://")
    if not sep or scheme not in ("udp", "tcp"):
        raise errors.InvalidArgument("gelf: endpoint needs to be TCP or UDP")
    if not rest.rpartition(":")[2].isdigit():
        raise errors.InvalidArgument(f"gelf-address {address!r}: a port is required")
    if opts.get("gelf-compression-type", "gzip") not in ("gzip", "zlib", "none"):
        raise errors.InvalidArgument("Unknown gelf compression type")
    level = opts.get("gelf-compression-level", "-1")
    if not level.lstrip("-").isdigit() or not -1 <= int(level) <= 9:
        raise errors.InvalidArgument("gelf-compression-level must be between -1 and 9")


def _validate_syslog(opts: Mapping[str, str]) -> None:
    address = opts.get("syslog-address", "")
    if address.startswith("tcp+tls://"):
        raise errors.InvalidArgument("syslog-address: tcp+tls is not supported by dockyard (udp, tcp, unix, unixgram)")
    if address and not address.startswith(_SYSLOG_SCHEMES):
        raise errors.InvalidArgument(f"syslog-address: unsupported scheme in {address!r} (udp, tcp, unix, unixgram)")
    if address.startswith(("udp://", "tcp://")):
        port = address.split("://", 1)[1].rpartition(":")[2]
        if ":" in address.split("://", 1)[1] and not port.isdigit():
            raise errors.InvalidArgument(f"syslog-address: invalid port in {address!r}")
    if opts.get("syslog-facility", "daemon") not in _SYSLOG_FACILITIES:
        raise errors.InvalidArgument("syslog-facility: invalid syslog facility")
    if opts.get("syslog-format", "") not in _SYSLOG_FORMATS:
        raise errors.InvalidArgument("Invalid syslog format")


def render_tag(template: str, fields: Mapping[str, str]) -> str:
    """A ``tag`` log option: dockerd's template fields (``{{.ID}}``, ``{{.Name}}``, ``{{.ImageName}}`` ...)."""
    out = template or _DEFAULT_TAG
    for key, value in fields.items():
        out = out.replace("{{." + key + "}}", value)
    return out


def remote_target(driver: str, opts: Mapping[str, str], fields: Mapping[str, str]) -> dict[str, str]:
    """What the shim's remote log writer needs (``driver`` included); ``{}`` for the local drivers."""
    if driver == "syslog":
        return {
            "driver": "syslog",
            "address": opts.get("syslog-address", ""),
            "facility": opts.get("syslog-facility", "daemon"),
            "format": opts.get("syslog-format", ""),
            "tag": render_tag(opts.get("tag", ""), fields),
        }
    if driver == "gelf":
        # the message fields dockerd adds, "_"-prefixed as GELF wants additional fields
        return {
            "driver": "gelf",
            "address": opts.get("gelf-address", ""),
            "compression": opts.get("gelf-compression-type", "gzip"),
            "level": opts.get("gelf-compression-level", "-1"),
            "_container_id": fields.get("FullID", ""),
            "_container_name": fields.get("Name", ""),
            "_image_id": fields.get("ImageFullID", ""),
            "_image_name": fields.get("ImageName", ""),
            "_command": fields.get("Command", ""),
            "_tag": render_tag(opts.get("tag", ""), fields),
            "_created": fields.get("Created", ""),
        }
    return {}


def _cached(driver: str, opts: Mapping[str, str]) -> bool:
    return driver not in READABLE and driver != "none" and opts.get("cache-disabled", "false").lower() != "true"


def log_path(container_dir: str, driver: str, container_id: str, opts: Mapping[str, str] | None = None) -> str:
    """The container's log file in its directory (a remote driver's local cache too), ``""`` for none."""
    driver = driver or DEFAULT_DRIVER
    if driver == "json-file":
        return os.path.join(container_dir, f"{container_id}-json.log")
    if driver == "local" or _cached(driver, opts or {}):
        return os.path.join(container_dir, f"{container_id}-local.log")
    return ""


def rotation_defaults(driver: str, opts: Mapping[str, str] | None = None) -> Mapping[str, str]:
    """Rotation options a driver has unless the container sets them (`local` and caches always rotate)."""
    if driver == "local":
        return _LOCAL_ROTATION
    if _cached(driver, opts or {}):
        o = opts or {}
        return {
            "max-size": o.get("cache-max-size", _CACHE_ROTATION["max-size"]),
            "max-file": o.get("cache-max-file", _CACHE_ROTATION["max-file"]),
        }
    return {}


def inspect_log_path(driver: str, path: str) -> str:
    """``LogPath`` in inspect: only json-file's file is part of the API."""
    return path if (driver or DEFAULT_DRIVER) == "json-file" else ""
