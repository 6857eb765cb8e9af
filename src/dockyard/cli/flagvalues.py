"""Pure parsers for flag values as the docker CLI reads them (sizes, durations, mounts, limits...)."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Mapping
from typing import Any

from dockyard import errors
from dockyard.cli.humanize import parse_go_duration

__all__ = [
    "parse_cpus",
    "parse_device",
    "parse_duration_ns",
    "parse_env",
    "parse_env_file",
    "parse_extra_host",
    "parse_key_values",
    "parse_labels",
    "parse_link",
    "parse_mount",
    "parse_port_specs",
    "parse_restart",
    "parse_size",
    "parse_tmpfs",
    "parse_ulimit",
    "parse_volume",
]

_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*([kmgtp]?)(?:i?b)?$", re.I)
_MULT = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}
_MOUNT_TYPES = ("bind", "volume", "tmpfs", "npipe", "cluster")
_PROPAGATIONS = ("private", "rprivate", "shared", "rshared", "slave", "rslave")
_RESTART = ("no", "always", "on-failure", "unless-stopped")


def parse_size(text: str, *, flag: str = "size") -> int:
    """Docker's ``RAMInBytes``: ``512m``, ``1g``, ``1024`` (binary units; ``-1`` means unlimited)."""
    v = text.strip()
    if v == "-1":
        return -1
    m = _SIZE.match(v)
    if not m:
        raise errors.InvalidArgument(f'invalid argument "{text}" for "--{flag}" flag: invalid size: \'{text}\'')
    return int(float(m.group(1)) * _MULT[m.group(2).lower()])


def parse_cpus(text: str) -> int:
    """``--cpus 1.5`` as NanoCPUs."""
    try:
        value = float(text)
    except ValueError:
        raise errors.InvalidArgument(
            f'invalid argument "{text}" for "--cpus" flag: failed to parse {text} as a rational number'
        ) from None
    if value < 0:
        raise errors.InvalidArgument(f'invalid argument "{text}" for "--cpus" flag: range of CPUs is from 0.01 to ...')
    return round(value * 1e9)


def parse_duration_ns(text: str, *, flag: str) -> int:
    """A Go duration (``30s``, ``1m30s``) in nanoseconds."""
    seconds = parse_go_duration(text.strip())
    if seconds is None:
        if text.strip() == "0":
            return 0
        raise errors.InvalidArgument(f'invalid argument "{text}" for "--{flag}" flag: time: invalid duration "{text}"')
    return round(seconds * 1e9)


def parse_key_values(items: Iterable[str], *, what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not key or not sep:
            raise errors.InvalidArgument(f"invalid {what} format '{item}', expected key=value")
        out[key] = value
    return out


def parse_restart(text: str) -> dict[str, Any]:
    """``on-failure[:N]`` etc. as a RestartPolicy."""
    name, _, count = text.partition(":")
    if name not in _RESTART:
        raise errors.InvalidArgument(
            f"invalid restart policy: unknown policy '{name}'; use one of {', '.join(_RESTART)}"
        )
    if count and name != "on-failure":
        raise errors.InvalidArgument("invalid restart policy: maximum retry count can only be used with 'on-failure'")
    if count and not count.isdigit():
        raise errors.InvalidArgument("invalid restart policy format: maximum retry count must be an integer")
    return {"Name": name, "MaximumRetryCount": int(count or 0)}


def parse_ulimit(text: str) -> dict[str, Any]:
    """``nofile=1024[:2048]``."""
    name, sep, limits = text.partition("=")
    soft, _, hard = limits.partition(":")
    try:
        s = int(soft)
        h = int(hard) if hard else s
    except ValueError:
        raise errors.InvalidArgument(f"invalid ulimit argument: {text}") from None
    if not sep or not name:
        raise errors.InvalidArgument(f"invalid ulimit argument: {text}")
    if s > h:
        raise errors.InvalidArgument(f"ulimit soft limit must be less than or equal to hard limit: {s} > {h}")
    return {"Name": name, "Soft": s, "Hard": h}


def parse_device(text: str) -> dict[str, str]:
    """``/dev/x[:/dev/y][:rwm]``."""
    parts = text.split(":")
    perms = "rwm"
    if len(parts) > 1 and re.fullmatch(r"[rwm]{1,3}", parts[-1]):
        perms = parts.pop()
    if len(parts) > 2 or not parts[0]:
        raise errors.InvalidArgument(f"invalid device specification: {text}")
    src = parts[0]
    dst = parts[1] if len(parts) == 2 and parts[1] else src
    if not dst.startswith("/"):
        raise errors.InvalidArgument(f"invalid device specification: {text}: path in container must be absolute")
    return {"PathOnHost": src, "PathInContainer": dst, "CgroupPermissions": perms}


def parse_extra_host(text: str) -> str:
    """``host:ip`` or ``host=ip``, passed on as ``host:ip``."""
    sep = "=" if "=" in text else ":"
    host, found, ip = text.partition(sep)
    if not found or not host or not ip:
        raise errors.InvalidArgument(f'invalid argument "{text}" for "--add-host" flag: bad format for add-host')
    return f"{host}:{ip}"


def parse_link(text: str) -> str:
    """``name[:alias]``, the API wants ``name:alias``."""
    name, _, alias = text.partition(":")
    if not name:
        raise errors.InvalidArgument(f"invalid link format: {text}")
    return f"{name}:{alias or name}"


def _truthy(value: str, key: str) -> bool:
    if value.lower() in ("", "1", "true"):
        return True
    if value.lower() in ("0", "false"):
        return False
    raise errors.InvalidArgument(f"invalid value for {key}: {value}")


def parse_mount(text: str) -> dict[str, Any]:
    """``--mount type=...,source=...,target=...`` as an API Mount."""
    fields = next(csv.reader([text]))
    mount: dict[str, Any] = {"Type": "volume"}
    bind: dict[str, Any] = {}
    vol: dict[str, Any] = {}
    tmpfs: dict[str, Any] = {}
    for field in fields:
        key, sep, value = field.partition("=")
        key = key.strip().lower()
        if not sep and key not in ("readonly", "ro", "volume-nocopy", "bind-nonrecursive"):
            raise errors.InvalidArgument(f"invalid field '{field}' must be a key=value pair")
        match key:
            case "type":
                if value not in _MOUNT_TYPES:
                    raise errors.InvalidArgument(f"invalid mount type: {value}")
                mount["Type"] = value
            case "source" | "src":
                mount["Source"] = value
            case "target" | "destination" | "dst":
                mount["Target"] = value
            case "readonly" | "ro":
                mount["ReadOnly"] = _truthy(value, key)
            case "consistency":
                mount["Consistency"] = value
            case "bind-propagation":
                if value not in _PROPAGATIONS:
                    raise errors.InvalidArgument(f"invalid bind propagation: {value}")
                bind["Propagation"] = value
            case "bind-nonrecursive":
                bind["NonRecursive"] = _truthy(value, key)
            case "volume-nocopy":
                vol["NoCopy"] = _truthy(value, key)
            case "volume-driver":
                vol.setdefault("DriverConfig", {})["Name"] = value
            case "volume-label":
                k, _, v = value.partition("=")
                vol.setdefault("Labels", {})[k] = v
            case "volume-opt":
                k, _, v = value.partition("=")
                vol.setdefault("DriverConfig", {}).setdefault("Options", {})[k] = v
            case "tmpfs-size":
                tmpfs["SizeBytes"] = parse_size(value, flag="mount")
            case "tmpfs-mode":
                try:
                    tmpfs["Mode"] = int(value, 8)
                except ValueError:
                    raise errors.InvalidArgument(f"invalid value for {key}: {value}") from None
            case _:
                raise errors.InvalidArgument(f"unexpected key '{key}' in '{field}'")
    if not mount.get("Target"):
        raise errors.InvalidArgument("target is required")
    kind = mount["Type"]
    if bind and kind != "bind":
        raise errors.InvalidArgument(f"cannot mix 'bind-*' options with mount type '{kind}'")
    if vol and kind != "volume":
        raise errors.InvalidArgument(f"cannot mix 'volume-*' options with mount type '{kind}'")
    if tmpfs and kind != "tmpfs":
        raise errors.InvalidArgument(f"cannot mix 'tmpfs-*' options with mount type '{kind}'")
    if kind == "bind" and not mount.get("Source"):
        raise errors.InvalidArgument("source is required when specifying bind mounts")
    if kind == "tmpfs" and mount.get("Source"):
        raise errors.InvalidArgument("source is not supported for tmpfs mounts")
    for key, opts in (("BindOptions", bind), ("VolumeOptions", vol), ("TmpfsOptions", tmpfs)):
        if opts:
            mount[key] = opts
    return mount


def parse_tmpfs(text: str) -> tuple[str, str]:
    """``/path[:opts]`` as a HostConfig.Tmpfs entry."""
    path, _, opts = text.partition(":")
    if not path.startswith("/"):
        raise errors.InvalidArgument(f"invalid tmpfs specification: {text}: path must be absolute")
    return path, opts


def _port_range(text: str, spec: str) -> list[int]:
    lo, sep, hi = text.partition("-")
    try:
        start, end = int(lo), int(hi) if sep else int(lo)
    except ValueError:
        raise errors.InvalidArgument(f"invalid port specification: '{spec}'") from None
    if not (0 < start <= end < 65536):
        raise errors.InvalidArgument(f"invalid port specification: '{spec}'")
    return list(range(start, end + 1))


def parse_port_specs(spec: str) -> list[tuple[str, dict[str, str]]]:
    """``[IP:][HOSTPORT[-END]:]PORT[-END][/PROTO]``: one (``port/proto``, binding) per port of a range."""
    body, _, proto = spec.partition("/")
    proto = proto or "tcp"
    if proto not in ("tcp", "udp", "sctp"):
        raise errors.InvalidArgument(f"invalid proto: {proto}")
    parts = body.rsplit(":", 2)
    ip, host, port = "", "", parts[-1]
    if len(parts) == 2:
        host = parts[0]
    elif len(parts) == 3:
        ip, host = parts[0].strip("[]"), parts[1]
    if not port:
        raise errors.InvalidArgument(f"no port specified: {spec}<empty>")
    ports = _port_range(port, spec)
    if not host:
        return [(f"{p}/{proto}", {"HostIp": ip, "HostPort": ""}) for p in ports]
    hosts = _port_range(host, spec)
    if len(hosts) == len(ports):
        return [(f"{p}/{proto}", {"HostIp": ip, "HostPort": str(h)}) for p, h in zip(ports, hosts, strict=True)]
    if len(ports) == 1:
        # one container port, a host range: the daemon picks a free one in it
        return [(f"{ports[0]}/{proto}", {"HostIp": ip, "HostPort": host})]
    raise errors.InvalidArgument(f"invalid ranges specified for container and host Ports: {port} and {host}")


def parse_env(items: Iterable[str], environ: Mapping[str, str]) -> list[str]:
    """``KEY=VAL`` kept; a bare ``KEY`` takes the local value, or is dropped if unset."""
    out: list[str] = []
    for item in items:
        if not item or item.startswith("="):
            raise errors.InvalidArgument(f"invalid environment variable: {item}")
        if "=" in item:
            out.append(item)
        elif item in environ:
            out.append(f"{item}={environ[item]}")
    return out


def parse_env_file(text: str, environ: Mapping[str, str]) -> list[str]:
    """An env file: one variable a line, ``#`` comments and blank lines skipped."""
    items: list[str] = []
    for line in text.splitlines():
        s = line.lstrip()
        if not s or s.startswith("#"):
            continue
        name, sep, value = s.partition("=")
        if " " in name.strip() or not name.strip():
            raise errors.InvalidArgument(f"variable '{name}' contains whitespaces")
        items.append(f"{name.strip()}={value}" if sep else name.strip())
    return parse_env(items, environ)


def parse_labels(items: Iterable[str]) -> dict[str, str]:
    labels: dict[str, str] = {}
    for item in items:
        key, _, value = item.partition("=")
        if not key:
            raise errors.InvalidArgument(f"invalid label: {item!r}")
        labels[key] = value
    return labels


def parse_volume(spec: str) -> str:
    """``-v SRC:DST[:OPTS]`` or ``-v DST`` checked and passed as a bind string."""
    parts = spec.split(":")
    if not spec or len(parts) > 3 or any(not p for p in parts):
        raise errors.InvalidArgument(f"invalid volume specification: '{spec}'")
    dst = parts[1] if len(parts) > 1 else parts[0]
    if not dst.startswith("/"):
        raise errors.InvalidArgument(f"invalid volume specification: '{spec}': destination must be absolute")
    return spec
