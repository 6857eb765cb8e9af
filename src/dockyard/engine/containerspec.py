"""Glue between a create request, the image, and the pure ``containers`` modules.

Parsing, merging and spec generation are pure (``dockyard.containers``); this
module adds the little I/O they need: the per-container hosts, hostname and
resolv.conf files, and reading the user database from the mounted rootfs.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from dockyard import errors
from dockyard.containers import create_request as creq
from dockyard.containers import logdrivers, naming, signals, specgen, user
from dockyard.containers import merge as merging
from dockyard.containers.cgroup_parent import cgroups_path
from dockyard.containers.exitcodes import classify_start_error
from dockyard.containers.hostconfig_defaults import DaemonDefaults, apply_daemon_defaults
from dockyard.containers.netmode import check_network_mode_conflicts
from dockyard.containers.store import ContainerRecord
from dockyard.engine.isolation import Isolation, StartIsolation
from dockyard.idmaps import IdMaps
from dockyard.mount.types import Mount
from dockyard.oci.reference import parse_reference

__all__ = [
    "Merged",
    "daemon_defaults",
    "display_ref",
    "generate",
    "generate_name",
    "joined_container",
    "merge",
    "new_id",
    "parse",
    "parse_signal",
    "start_failure",
    "validate_name",
    "with_identity_of",
    "write_network_files",
]

DEFAULT_NETWORK_MODE = "bridge"


def parse(body: Mapping[str, Any]) -> creq.CreateRequest:
    return creq.parse_create_request(body)


def display_ref(name: str) -> str:
    """``busybox`` -> ``busybox:latest`` as Docker prints it in 'No such image'."""
    try:
        return parse_reference(name).familiar()
    except errors.InvalidArgument:
        return name


validate_name = naming.validate_name
parse_signal = signals.parse_signal


def generate_name(is_taken: Callable[[str], bool]) -> str:
    return naming.generate_name(is_taken, naming.new_container_id())


def new_id() -> str:
    return naming.new_container_id()


@dataclass(frozen=True)
class Merged:
    """A create request merged with its image's config, ready to be stored."""

    config: creq.ContainerConfig
    host_config: creq.HostConfig
    image: str
    path: str
    args: tuple[str, ...]
    warnings: tuple[str, ...] = ()

    @property
    def hostname(self) -> str:
        return self.config.hostname

    @property
    def log_driver(self) -> str:
        return self.host_config.log_config.type or "json-file"

    def config_json(self, hostname: str) -> dict[str, Any]:
        d = creq.config_to_json(self.config)
        d["Hostname"] = hostname
        return d

    def host_config_json(self) -> dict[str, Any]:
        return creq.host_config_to_json(self.host_config)


def daemon_defaults(runtime: str, log_driver: str) -> DaemonDefaults:
    v2 = os.path.exists("/sys/fs/cgroup/cgroup.controllers")
    return DaemonDefaults(
        cgroupns_mode="private" if v2 else "host", cgroup_v2=v2, runtime=runtime, log_driver=log_driver
    )


def merge(req: creq.CreateRequest, image_config: Mapping[str, Any], defaults: DaemonDefaults) -> Merged:
    check_network_mode_conflicts(req.config, req.host_config)
    cfg = merging.merge_image_config(req.config, image_config)
    hc = apply_daemon_defaults(req.host_config, defaults)
    if hc.network_mode in ("", "default"):
        # Like Docker: no mode means the default bridge network; the network service validates the rest.
        hc = creq.with_network_mode(hc, DEFAULT_NETWORK_MODE)
    logdrivers.validate(hc.log_config.type, hc.log_config.config)
    argv = merging.process_args(cfg)
    if not argv:
        raise errors.InvalidArgument("no command specified")
    return Merged(config=cfg, host_config=hc, image=req.config.image, path=argv[0], args=tuple(argv[1:]))


def _host_resolv_conf() -> str:
    """The host's resolv.conf without loopback resolvers a container can't reach."""
    try:
        with open("/etc/resolv.conf") as f:
            lines = f.read().splitlines()
    except OSError:
        lines = []
    out = []
    for line in lines:
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "nameserver" and (parts[1].startswith("127.") or parts[1] == "::1"):
            continue
        out.append(line)
    return "\n".join(out) + "\n" if out else ""


def write_network_files(cdir: str, hostname: str, merged: Merged, remap: IdMaps | None = None) -> dict[str, str]:
    """hostname, hosts and resolv.conf for the container, bind-mounted at start (owned by a remapped root)."""
    paths = {name: os.path.join(cdir, name) for name in ("hostname", "hosts", "resolv.conf")}
    hosts = [
        "127.0.0.1\tlocalhost",
        "::1\tlocalhost ip6-localhost ip6-loopback",
        "fe00::0\tip6-localnet",
        "ff00::0\tip6-mcastprefix",
        "ff02::1\tip6-allnodes",
        "ff02::2\tip6-allrouters",
    ]
    for entry in merged.host_config.extra_hosts or ():
        name, _, addr = entry.partition(":")
        hosts.append(f"{addr}\t{name}")
    contents = {
        "hostname": hostname + "\n",
        "hosts": "\n".join(hosts) + "\n",
        "resolv.conf": _host_resolv_conf(),
    }
    for name, text in contents.items():
        tmp = paths[name] + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        if remap is not None:
            os.chown(tmp, *remap.root)
        os.replace(tmp, paths[name])
    return paths


def generate(
    rec: ContainerRecord,
    rootfs: str,
    cgroup_parent: str,
    extra_mounts: tuple[Mount, ...] = (),
    netns: str | None = None,
    isolation: Isolation | None = None,
    cgroup_driver: str = "cgroupfs",
) -> dict[str, Any]:
    """The OCI runtime config for ``rec`` (its rootfs mounted at ``rootfs``).

    ``isolation`` adds what depends on the host: seccomp, devices, other containers'
    namespaces, the init binary, the daemon's capability bounding set.
    """
    req = creq.parse_create_request({**rec.config, "HostConfig": dict(rec.host_config)})
    cfg, hc = req.config, req.host_config
    iso = isolation.for_start(hc, rootfs) if isolation is not None else StartIsolation()
    cgroup_parent = hc.resources.cgroup_parent or cgroup_parent
    passwd, group = user.read_user_files(rootfs)
    resolved = user.resolve_user(cfg.user, passwd, group, hc.group_add or ())
    inp = specgen.SpecInput(
        container_id=rec.id,
        config=cfg,
        host_config=hc,
        user=resolved,
        args=(rec.path, *rec.args),
        hostname=cfg.hostname or rec.id[:12],
        rootfs="rootfs",
        extra_mounts=(
            *specgen.standard_file_mounts(
                rec.hostname_path, rec.hosts_path, rec.resolv_conf_path, read_only=bool(hc.readonly_rootfs)
            ),
            *iso.extra_mounts,
            *extra_mounts,
        ),
        network_namespace=netns,
        cgroups_path=cgroups_path(cgroup_driver, cgroup_parent, rec.id),
        # Like dockerd without default-ulimits: containers inherit the daemon's limits
        # (raising a hard limit needs CAP_SYS_RESOURCE, which hosts may not grant).
        default_ulimits=(),
        seccomp=iso.seccomp,
        devices=iso.devices,
        block_devices=iso.block_devices,
        ipc_ns_path=iso.ipc_ns_path,
        pid_ns_path=iso.pid_ns_path,
        init_path=iso.init_path,
        available_capabilities=iso.available_capabilities,
        uid_mappings=iso.uid_mappings,
        gid_mappings=iso.gid_mappings,
        apparmor_profile=iso.apparmor_profile,
    )
    return specgen.generate_spec(inp)


def joined_container(host_config: Mapping[str, Any]) -> str:
    """The container whose network namespace ``NetworkMode: container:<ref>`` joins, or ``""``."""
    mode = str(host_config.get("NetworkMode") or "")
    return mode.split(":", 1)[1] if mode.startswith("container:") else ""


def with_identity_of(config: Mapping[str, Any], donor: Mapping[str, Any]) -> dict[str, Any]:
    """``config`` with the host and domain name of the container whose network it joins: moby
    copies them at every start, so hostname, /etc/hostname and $HOSTNAME match the donor's."""
    return {**config, "Hostname": donor.get("Hostname") or "", "Domainname": donor.get("Domainname") or ""}


def start_failure(message: str, command: str) -> errors.DockyardError:
    """The error a failed start answers with (400 for the user's fault, 500 otherwise)."""
    f = classify_start_error(message, command)
    err: errors.DockyardError = errors.InvalidArgument(f.message) if f.invalid_config else errors.Internal(f.message)
    err.exit_code = f.exit_code  # type: ignore[attr-defined]
    return err
