"""Daemon configuration: dockerd-like flags over a daemon.json file over defaults."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from dockyard.errors import InvalidArgument

__all__ = ["CGROUP_DRIVERS", "DEFAULT_HOST", "DaemonConfig", "ExecOptions", "load_config_file", "parse_exec_opts"]

DEFAULT_HOST = "unix:///run/dockyard/dockyard.sock"


@dataclass(frozen=True)
class DaemonConfig:
    hosts: tuple[str, ...] = (DEFAULT_HOST,)
    data_root: str = "/var/lib/dockyard"
    exec_root: str = "/run/dockyard"
    pidfile: str = ""  # default: <exec_root>/dockyardd.pid
    log_level: str = "info"
    default_runtime: str = "dockyard-runtime"
    # name -> {"path": ..., "runtimeArgs": [...]}, like daemon.json's "runtimes"
    runtimes: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    storage_driver: str = ""  # "overlay" | "copy" | "" (auto)
    log_driver: str = "json-file"
    log_opts: Mapping[str, str] = field(default_factory=dict)
    cgroup_parent: str = ""  # "": the cgroup driver's default (see container_cgroup_parent)
    exec_opts: tuple[str, ...] = ()  # dockerd's --exec-opt: "native.cgroupdriver=cgroupfs|systemd"
    live_restore: bool = True
    registry_mirrors: tuple[str, ...] = ()  # tried before the origin, for every registry
    insecure_registries: tuple[str, ...] = ()  # host[:port] or CIDR: plain HTTP allowed (loopback always is)
    max_concurrent_downloads: int = 3
    max_concurrent_uploads: int = 5
    init_path: str = ""  # the --init binary; "" finds dockyard-init on PATH
    seccomp_profile: str = ""  # a Docker-format profile file replacing the default one ("unconfined": none)
    userns_remap: str = ""  # "default", "user[:group]" or "uid[:gid]": containers' root is a subordinate id range
    extra: Mapping[str, Any] = field(default_factory=dict)  # keys we keep but don't act on yet
    # networking (daemon.json: bridge, bip, default-address-pools, ip-masq, mtu)
    bridge: str = "dockyard0"
    bip: str = ""
    default_address_pools: tuple[Mapping[str, Any], ...] = ()
    ip_masq: bool = True
    mtu: int = 1500
    firewall_backend: str = "auto"  # "nftables" | "iptables" | "auto" (nft when it works)

    @property
    def pidfile_path(self) -> str:
        return self.pidfile or f"{self.exec_root}/dockyardd.pid"

    @property
    def cgroup_driver(self) -> str:
        return parse_exec_opts(self.exec_opts).cgroup_driver

    @property
    def container_cgroup_parent(self) -> str:
        """Where containers' cgroups go: cgroup-parent, else /dockyard (cgroupfs) or system.slice (systemd)."""
        return self.cgroup_parent or ("system.slice" if self.cgroup_driver == "systemd" else "/dockyard")

    def merged(self, overrides: Mapping[str, Any]) -> DaemonConfig:
        """A copy with dataclass-field overrides (already in Python names)."""
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})


CGROUP_DRIVERS = ("cgroupfs", "systemd")


@dataclass(frozen=True)
class ExecOptions:
    cgroup_driver: str = "cgroupfs"


def parse_exec_opts(opts: Sequence[str]) -> ExecOptions:
    """dockerd's exec-opts (``key=value``, keys case-insensitive); unknown keys or values are refused."""
    driver = "cgroupfs"
    for opt in opts:
        key, eq, value = opt.partition("=")
        key, value = key.strip(), value.strip()
        if not eq or not key:
            raise InvalidArgument(f"invalid exec-opt {opt!r}: expected key=value")
        if key.lower() != "native.cgroupdriver":
            raise InvalidArgument(f"unknown exec-opt {key!r}: the only one is native.cgroupdriver")
        if value.lower() not in CGROUP_DRIVERS:
            raise InvalidArgument(f"native.cgroupdriver option {value} not supported: use cgroupfs or systemd")
        driver = value.lower()
    return ExecOptions(cgroup_driver=driver)


# daemon.json key -> DaemonConfig field
_KEYS = {
    "hosts": "hosts",
    "data-root": "data_root",
    "exec-root": "exec_root",
    "pidfile": "pidfile",
    "log-level": "log_level",
    "default-runtime": "default_runtime",
    "runtimes": "runtimes",
    "storage-driver": "storage_driver",
    "log-driver": "log_driver",
    "log-opts": "log_opts",
    "cgroup-parent": "cgroup_parent",
    "exec-opts": "exec_opts",
    "live-restore": "live_restore",
    "bridge": "bridge",
    "bip": "bip",
    "default-address-pools": "default_address_pools",
    "ip-masq": "ip_masq",
    "mtu": "mtu",
    "firewall-backend": "firewall_backend",
    "init-path": "init_path",
    "seccomp-profile": "seccomp_profile",
    "userns-remap": "userns_remap",
    "registry-mirrors": "registry_mirrors",
    "insecure-registries": "insecure_registries",
    "max-concurrent-downloads": "max_concurrent_downloads",
    "max-concurrent-uploads": "max_concurrent_uploads",
}
_LEVELS = {"debug", "info", "warn", "warning", "error", "fatal"}


def config_from_mapping(obj: Mapping[str, Any], base: DaemonConfig | None = None) -> DaemonConfig:
    """Turn daemon.json content into a config; unknown keys are kept in ``extra``."""
    values: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in obj.items():
        name = _KEYS.get(key)
        if name is None:
            extra[key] = value
            continue
        if name == "hosts":
            if isinstance(value, str):
                value = [value]
            if not isinstance(value, list) or not all(isinstance(h, str) for h in value):
                raise InvalidArgument("config: hosts must be a list of strings")
            value = tuple(value)
        elif name in ("runtimes", "log_opts"):
            if not isinstance(value, dict):
                raise InvalidArgument(f"config: {key} must be an object")
        elif name in ("live_restore", "ip_masq"):
            value = bool(value)
        elif name in ("registry_mirrors", "insecure_registries", "exec_opts"):
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise InvalidArgument(f"config: {key} must be a list of strings")
            value = tuple(value)
        elif name in ("max_concurrent_downloads", "max_concurrent_uploads"):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise InvalidArgument(f"config: {key} must be a positive integer")
        elif name == "mtu":
            if not isinstance(value, int) or not 68 <= value <= 65535:
                raise InvalidArgument("config: mtu must be an integer between 68 and 65535")
        elif name == "default_address_pools":
            if not isinstance(value, list) or not all(isinstance(p, dict) for p in value):
                raise InvalidArgument("config: default-address-pools must be a list of {base, size}")
            value = tuple(value)
        elif not isinstance(value, str):
            raise InvalidArgument(f"config: {key} must be a string")
        values[name] = value
    parse_exec_opts(values.get("exec_opts", ()))
    if values.get("firewall_backend", "auto") not in ("auto", "nftables", "iptables"):
        raise InvalidArgument('config: firewall-backend must be "nftables", "iptables" or "auto"')
    if "log_level" in values and values["log_level"] not in _LEVELS:
        raise InvalidArgument(f"config: unknown log-level {values['log_level']!r}")
    for rname, rt in dict(values.get("runtimes", {})).items():
        if not isinstance(rt, dict) or not isinstance(rt.get("path"), str):
            raise InvalidArgument(f'config: runtime {rname!r} needs a "path"')
    cfg = (base or DaemonConfig()).merged(values)
    return replace(cfg, extra={**cfg.extra, **extra})


def load_config_file(path: str, base: DaemonConfig | None = None) -> DaemonConfig:
    try:
        with open(path, encoding="utf-8") as f:
            obj = json.load(f)
    except OSError as e:
        raise InvalidArgument(f"unable to read config file {path}: {e.strerror}") from None
    except ValueError as e:
        raise InvalidArgument(f"invalid config file {path}: {e}") from None
    if not isinstance(obj, dict):
        raise InvalidArgument(f"invalid config file {path}: expected a JSON object")
    return config_from_mapping(obj, base)
