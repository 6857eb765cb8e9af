"""``POST /containers/create`` bodies: parsed, validated, frozen, and shown back as Docker does.

``parse_create_request`` keeps what the client sent (``null`` stays None, so
inspect can show ``null`` where Docker does); ``apply_daemon_defaults`` (in
``hostconfig_defaults``) fills in what dockerd stores before inspect shows it.
Messages of validation errors are Docker's own, since clients and users match them.
"""

from __future__ import annotations

import ipaddress
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from dockyard.containers._decode import Fields, frozen_map
from dockyard.containers.binds import parse_bind
from dockyard.containers.capabilities import normalize_capabilities
from dockyard.containers.devices import parse_device_cgroup_rule
from dockyard.containers.mountspec import BindOptions, MountSpec, TmpfsOptions, VolumeOptions
from dockyard.containers.security_opts import parse_security_opts
from dockyard.containers.signals import parse_signal
from dockyard.containers.tmpfs import tmpfs_mount_options
from dockyard.errors import InvalidArgument
from dockyard.security.seccomp_profile import parse_profile

__all__ = [
    "RESTART_POLICIES",
    "ULIMIT_NAMES",
    "BindOptions",
    "ContainerConfig",
    "CreateRequest",
    "DeviceMapping",
    "EndpointConfig",
    "Healthcheck",
    "HostConfig",
    "LogConfig",
    "MountSpec",
    "NetworkingConfig",
    "PortBinding",
    "Resources",
    "RestartPolicy",
    "ThrottleDevice",
    "TmpfsOptions",
    "Ulimit",
    "VolumeOptions",
    "WeightDevice",
    "clean_working_dir",
    "config_to_json",
    "healthcheck_to_json",
    "host_config_to_json",
    "parse_container_config",
    "parse_create_request",
    "parse_host_config",
    "parse_networking_config",
    "split_port",
    "validate_container_config",
    "validate_host_config",
    "with_network_mode",
]

_EMPTY_MAP: Mapping[str, str] = frozen_map({})
_MIN_DURATION_NS = 1_000_000  # Docker's minimum for health check durations: 1ms
_MIN_MEMORY = 6 * 1024 * 1024

RESTART_POLICIES = ("no", "always", "on-failure", "unless-stopped")
ULIMIT_NAMES = (
    "core",
    "cpu",
    "data",
    "fsize",
    "locks",
    "memlock",
    "msgqueue",
    "nice",
    "nofile",
    "nproc",
    "rss",
    "rtprio",
    "rttime",
    "sigpending",
    "stack",
)
_PORT_PROTOCOLS = ("tcp", "udp", "sctp")
_SYSCTL_IPC = (
    "kernel.msgmax",
    "kernel.msgmnb",
    "kernel.msgmni",
    "kernel.sem",
    "kernel.shmall",
    "kernel.shmmax",
    "kernel.shmmni",
    "kernel.shm_rmid_forced",
)


# --- values -------------------------------------------------------------------


@dataclass(frozen=True)
class Healthcheck:
    """``Config.Healthcheck``; durations in nanoseconds, 0 meaning "inherit/default"."""

    test: tuple[str, ...] | None = None
    interval: int = 0
    timeout: int = 0
    start_period: int = 0
    start_interval: int = 0
    retries: int = 0


@dataclass(frozen=True)
class ContainerConfig:
    """Docker's ``container.Config``: the portable part of a container's configuration."""

    hostname: str = ""
    domainname: str = ""
    user: str = ""
    attach_stdin: bool = False
    attach_stdout: bool = False
    attach_stderr: bool = False
    exposed_ports: tuple[str, ...] | None = None  # "80/tcp" keys
    tty: bool = False
    open_stdin: bool = False
    stdin_once: bool = False
    env: tuple[str, ...] | None = None
    cmd: tuple[str, ...] | None = None
    healthcheck: Healthcheck | None = None
    args_escaped: bool = False
    image: str = ""
    volumes: tuple[str, ...] | None = None
    working_dir: str = ""
    entrypoint: tuple[str, ...] | None = None
    network_disabled: bool = False
    mac_address: str = ""
    on_build: tuple[str, ...] | None = None
    labels: Mapping[str, str] | None = None
    stop_signal: str = ""
    stop_timeout: int | None = None
    shell: tuple[str, ...] | None = None


@dataclass(frozen=True)
class PortBinding:
    host_ip: str = ""
    host_port: str = ""


@dataclass(frozen=True)
class RestartPolicy:
    name: str = ""  # "" is read as "no"
    maximum_retry_count: int = 0


@dataclass(frozen=True)
class LogConfig:
    type: str = ""
    config: Mapping[str, str] = field(default_factory=lambda: _EMPTY_MAP)


@dataclass(frozen=True)
class Ulimit:
    name: str
    soft: int
    hard: int


@dataclass(frozen=True)
class DeviceMapping:
    path_on_host: str
    path_in_container: str = ""
    cgroup_permissions: str = "rwm"


@dataclass(frozen=True)
class WeightDevice:
    path: str
    weight: int


@dataclass(frozen=True)
class ThrottleDevice:
    path: str
    rate: int


@dataclass(frozen=True)
class Resources:
    """The cgroup and rlimit part of HostConfig (Go embeds it, so JSON flattens it)."""

    cpu_shares: int = 0
    memory: int = 0
    nano_cpus: int = 0
    cgroup_parent: str = ""
    blkio_weight: int = 0
    blkio_weight_device: tuple[WeightDevice, ...] | None = None
    blkio_device_read_bps: tuple[ThrottleDevice, ...] | None = None
    blkio_device_write_bps: tuple[ThrottleDevice, ...] | None = None
    blkio_device_read_iops: tuple[ThrottleDevice, ...] | None = None
    blkio_device_write_iops: tuple[ThrottleDevice, ...] | None = None
    cpu_period: int = 0
    cpu_quota: int = 0
    cpu_realtime_period: int = 0
    cpu_realtime_runtime: int = 0
    cpuset_cpus: str = ""
    cpuset_mems: str = ""
    devices: tuple[DeviceMapping, ...] | None = None
    device_cgroup_rules: tuple[str, ...] | None = None
    device_requests: tuple[Mapping[str, Any], ...] | None = None
    kernel_memory: int = 0
    kernel_memory_tcp: int = 0
    memory_reservation: int = 0
    memory_swap: int = 0
    memory_swappiness: int | None = None
    oom_kill_disable: bool | None = None
    pids_limit: int | None = None
    ulimits: tuple[Ulimit, ...] | None = None
    cpu_count: int = 0
    cpu_percent: int = 0
    io_maximum_iops: int = 0
    io_maximum_bandwidth: int = 0


@dataclass(frozen=True)
class HostConfig:
    """Docker's ``container.HostConfig``: the host-dependent part of a container's configuration."""

    binds: tuple[str, ...] | None = None
    container_id_file: str = ""
    log_config: LogConfig = field(default_factory=LogConfig)
    network_mode: str = ""
    port_bindings: Mapping[str, tuple[PortBinding, ...] | None] | None = None
    restart_policy: RestartPolicy = field(default_factory=RestartPolicy)
    auto_remove: bool = False
    volume_driver: str = ""
    volumes_from: tuple[str, ...] | None = None
    annotations: Mapping[str, str] | None = None
    cap_add: tuple[str, ...] | None = None
    cap_drop: tuple[str, ...] | None = None
    cgroupns_mode: str = ""
    dns: tuple[str, ...] | None = None
    dns_options: tuple[str, ...] | None = None
    dns_search: tuple[str, ...] | None = None
    extra_hosts: tuple[str, ...] | None = None
    group_add: tuple[str, ...] | None = None
    ipc_mode: str = ""
    cgroup: str = ""
    links: tuple[str, ...] | None = None
    oom_score_adj: int = 0
    pid_mode: str = ""
    privileged: bool = False
    publish_all_ports: bool = False
    readonly_rootfs: bool = False
    security_opt: tuple[str, ...] | None = None
    storage_opt: Mapping[str, str] | None = None
    tmpfs: Mapping[str, str] | None = None
    uts_mode: str = ""
    userns_mode: str = ""
    shm_size: int = 0
    sysctls: Mapping[str, str] | None = None
    runtime: str = ""
    console_size: tuple[int, int] = (0, 0)  # (height, width)
    isolation: str = ""
    resources: Resources = field(default_factory=Resources)
    mounts: tuple[MountSpec, ...] | None = None
    masked_paths: tuple[str, ...] | None = None
    readonly_paths: tuple[str, ...] | None = None
    init: bool | None = None


@dataclass(frozen=True)
class EndpointConfig:
    """One ``NetworkingConfig.EndpointsConfig`` entry as a client asks for it."""

    ipv4_address: str = ""
    ipv6_address: str = ""
    link_local_ips: tuple[str, ...] = ()
    links: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    mac_address: str = ""
    driver_opts: Mapping[str, str] | None = None
    network_id: str = ""


@dataclass(frozen=True)
class NetworkingConfig:
    endpoints: Mapping[str, EndpointConfig] = field(default_factory=lambda: frozen_map({}))


@dataclass(frozen=True)
class CreateRequest:
    """A whole create body: Config fields at the top level, plus HostConfig and NetworkingConfig."""

    config: ContainerConfig
    host_config: HostConfig
    networking: NetworkingConfig


# --- parsing ------------------------------------------------------------------


def parse_create_request(body: Any) -> CreateRequest:
    """Parse and validate a create body; any problem raises ``InvalidArgument`` with Docker's message."""
    top = Fields(body, "container.Config")
    config = parse_container_config(body)
    host = parse_host_config(top.raw("HostConfig"))
    networking = parse_networking_config(top.raw("NetworkingConfig"))
    validate_container_config(config)
    validate_host_config(host)
    config = replace(config, working_dir=clean_working_dir(config))
    return CreateRequest(config, host, networking)


def _healthcheck(f: Fields | None) -> Healthcheck | None:
    if f is None:
        return None
    return Healthcheck(
        test=f.str_list("Test"),
        interval=f.integer("Interval", gotype="time.Duration"),
        timeout=f.integer("Timeout", gotype="time.Duration"),
        start_period=f.integer("StartPeriod", gotype="time.Duration"),
        start_interval=f.integer("StartInterval", gotype="time.Duration"),
        retries=f.integer("Retries", gotype="int"),
    )


def parse_container_config(doc: Any) -> ContainerConfig:
    """The ``container.Config`` fields of ``doc`` (no validation beyond JSON types).

    Empty values of Docker's ``omitempty`` fields become None, so that a config
    survives being shown as JSON and parsed again unchanged.
    """
    f = Fields(doc, "container.Config")
    ports = f.key_set("ExposedPorts")
    return ContainerConfig(
        hostname=f.string("Hostname"),
        domainname=f.string("Domainname"),
        user=f.string("User"),
        attach_stdin=f.boolean("AttachStdin"),
        attach_stdout=f.boolean("AttachStdout"),
        attach_stderr=f.boolean("AttachStderr"),
        exposed_ports=tuple(dict.fromkeys(_port_key(p) for p in ports)) if ports else None,
        tty=f.boolean("Tty"),
        open_stdin=f.boolean("OpenStdin"),
        stdin_once=f.boolean("StdinOnce"),
        env=f.str_list("Env"),
        cmd=f.str_slice("Cmd"),
        healthcheck=_healthcheck(f.obj("Healthcheck", "container.HealthConfig")),
        args_escaped=f.boolean("ArgsEscaped"),
        image=f.string("Image"),
        volumes=f.key_set("Volumes"),
        working_dir=f.string("WorkingDir"),
        entrypoint=f.str_slice("Entrypoint"),
        network_disabled=f.boolean("NetworkDisabled"),
        mac_address=f.string("MacAddress"),
        on_build=f.str_list("OnBuild"),
        labels=f.str_map("Labels"),
        stop_signal=f.string("StopSignal"),
        stop_timeout=f.opt_integer("StopTimeout", "int"),
        shell=f.str_slice("Shell") or None,
    )


def _throttle(f: Fields, key: str) -> tuple[ThrottleDevice, ...] | None:
    items = f.obj_list(key, "blkiodev.ThrottleDevice")
    if items is None:
        return None
    return tuple(ThrottleDevice(i.string("Path"), i.integer("Rate", gotype="uint64")) for i in items)


def _resources(f: Fields) -> Resources:
    weights = f.obj_list("BlkioWeightDevice", "blkiodev.WeightDevice")
    devices = f.obj_list("Devices", "container.DeviceMapping")
    ulimits = f.obj_list("Ulimits", "units.Ulimit")
    requests = f.obj_list("DeviceRequests", "container.DeviceRequest")
    swappiness = f.opt_integer("MemorySwappiness")
    return Resources(
        cpu_shares=f.integer("CpuShares"),
        memory=f.integer("Memory"),
        nano_cpus=f.integer("NanoCpus"),
        cgroup_parent=f.string("CgroupParent"),
        blkio_weight=f.integer("BlkioWeight", gotype="uint16"),
        blkio_weight_device=None
        if weights is None
        else tuple(WeightDevice(w.string("Path"), w.integer("Weight", gotype="uint16")) for w in weights),
        blkio_device_read_bps=_throttle(f, "BlkioDeviceReadBps"),
        blkio_device_write_bps=_throttle(f, "BlkioDeviceWriteBps"),
        blkio_device_read_iops=_throttle(f, "BlkioDeviceReadIOps"),
        blkio_device_write_iops=_throttle(f, "BlkioDeviceWriteIOps"),
        cpu_period=f.integer("CpuPeriod"),
        cpu_quota=f.integer("CpuQuota"),
        cpu_realtime_period=f.integer("CpuRealtimePeriod"),
        cpu_realtime_runtime=f.integer("CpuRealtimeRuntime"),
        cpuset_cpus=f.string("CpusetCpus"),
        cpuset_mems=f.string("CpusetMems"),
        devices=None
        if devices is None
        else tuple(
            DeviceMapping(d.string("PathOnHost"), d.string("PathInContainer"), d.string("CgroupPermissions"))
            for d in devices
        ),
        device_cgroup_rules=f.str_list("DeviceCgroupRules"),
        device_requests=None if requests is None else tuple(frozen_map(r.doc()) for r in requests),
        kernel_memory=f.integer("KernelMemory"),
        kernel_memory_tcp=f.integer("KernelMemoryTCP"),
        memory_reservation=f.integer("MemoryReservation"),
        memory_swap=f.integer("MemorySwap"),
        # API < 1.40 clients send -1 for "not set".
        memory_swappiness=None if swappiness == -1 else swappiness,
        oom_kill_disable=f.opt_boolean("OomKillDisable"),
        pids_limit=f.opt_integer("PidsLimit"),
        ulimits=None
        if ulimits is None
        else tuple(Ulimit(u.string("Name"), u.integer("Soft"), u.integer("Hard")) for u in ulimits),
        cpu_count=f.integer("CpuCount"),
        cpu_percent=f.integer("CpuPercent"),
        io_maximum_iops=f.integer("IOMaximumIOps", gotype="uint64"),
        io_maximum_bandwidth=f.integer("IOMaximumBandwidth", gotype="uint64"),
    )


def _mount_spec(m: Fields) -> MountSpec:
    bind = m.obj("BindOptions", "mount.BindOptions")
    vol = m.obj("VolumeOptions", "mount.VolumeOptions")
    tmpfs = m.obj("TmpfsOptions", "mount.TmpfsOptions")
    driver = vol.obj("DriverConfig", "mount.Driver") if vol is not None else None
    return MountSpec(
        type=m.string("Type"),
        target=m.string("Target"),
        source=m.string("Source"),
        read_only=m.boolean("ReadOnly"),
        consistency=m.string("Consistency"),
        bind_options=None
        if bind is None
        else BindOptions(
            propagation=bind.string("Propagation"),
            non_recursive=bind.boolean("NonRecursive"),
            create_mountpoint=bind.boolean("CreateMountpoint"),
            read_only_non_recursive=bind.boolean("ReadOnlyNonRecursive"),
            read_only_force_recursive=bind.boolean("ReadOnlyForceRecursive"),
        ),
        volume_options=None
        if vol is None
        else VolumeOptions(
            no_copy=vol.boolean("NoCopy"),
            labels=vol.str_map("Labels"),
            driver_name=driver.string("Name") if driver else "",
            driver_options=driver.str_map("Options") if driver else None,
            subpath=vol.string("Subpath"),
        ),
        tmpfs_options=None
        if tmpfs is None
        else TmpfsOptions(size_bytes=tmpfs.integer("SizeBytes"), mode=tmpfs.integer("Mode", gotype="os.FileMode")),
    )


def _port_bindings(f: Fields) -> Mapping[str, tuple[PortBinding, ...] | None] | None:
    raw = f.raw("PortBindings")
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise InvalidArgument(
            "json: cannot unmarshal "
            + ("array" if isinstance(raw, list) else "string")
            + " into Go struct field HostConfig.PortBindings of type nat.PortMap"
        )
    out: dict[str, tuple[PortBinding, ...] | None] = {}
    holder = Fields(raw, "nat.PortMap")
    for key in raw:
        items = holder.obj_list(key, "nat.PortBinding")
        out[_port_key(key)] = (
            None if items is None else tuple(PortBinding(b.string("HostIp"), b.string("HostPort")) for b in items)
        )
    return frozen_map(out)


def _console_size(f: Fields) -> tuple[int, int]:
    raw = f.raw("ConsoleSize")
    if raw is None:
        return (0, 0)
    if (
        not isinstance(raw, list)
        or len(raw) != 2
        or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in raw)
    ):
        raise InvalidArgument("json: cannot unmarshal into Go struct field HostConfig.ConsoleSize of type [2]uint")
    return (raw[0], raw[1])


def parse_host_config(doc: Any) -> HostConfig:
    """The ``HostConfig`` object (``None`` gives every field its zero value)."""
    f = Fields(doc, "container.HostConfig")
    log = f.obj("LogConfig", "container.LogConfig")
    restart = f.obj("RestartPolicy", "container.RestartPolicy")
    mounts = f.obj_list("Mounts", "mount.Mount")
    return HostConfig(
        binds=f.str_list("Binds"),
        container_id_file=f.string("ContainerIDFile"),
        log_config=LogConfig() if log is None else LogConfig(log.string("Type"), log.str_map("Config") or _EMPTY_MAP),
        network_mode=f.string("NetworkMode"),
        port_bindings=_port_bindings(f),
        restart_policy=RestartPolicy()
        if restart is None
        else RestartPolicy(restart.string("Name"), restart.integer("MaximumRetryCount", gotype="int")),
        auto_remove=f.boolean("AutoRemove"),
        volume_driver=f.string("VolumeDriver"),
        volumes_from=f.str_list("VolumesFrom"),
        annotations=f.str_map("Annotations") or None,
        cap_add=f.str_slice("CapAdd"),
        cap_drop=f.str_slice("CapDrop"),
        cgroupns_mode=f.string("CgroupnsMode"),
        dns=f.str_list("Dns"),
        dns_options=f.str_list("DnsOptions"),
        dns_search=f.str_list("DnsSearch"),
        extra_hosts=f.str_list("ExtraHosts"),
        group_add=f.str_list("GroupAdd"),
        ipc_mode=f.string("IpcMode"),
        cgroup=f.string("Cgroup"),
        links=f.str_list("Links"),
        oom_score_adj=f.integer("OomScoreAdj", gotype="int"),
        pid_mode=f.string("PidMode"),
        privileged=f.boolean("Privileged"),
        publish_all_ports=f.boolean("PublishAllPorts"),
        readonly_rootfs=f.boolean("ReadonlyRootfs"),
        security_opt=f.str_list("SecurityOpt"),
        storage_opt=f.str_map("StorageOpt") or None,
        tmpfs=f.str_map("Tmpfs") or None,
        uts_mode=f.string("UTSMode"),
        userns_mode=f.string("UsernsMode"),
        shm_size=f.integer("ShmSize"),
        sysctls=f.str_map("Sysctls") or None,
        runtime=f.string("Runtime"),
        console_size=_console_size(f),
        isolation=f.string("Isolation"),
        resources=_resources(f),
        mounts=tuple(_mount_spec(m) for m in mounts) if mounts else None,
        masked_paths=f.str_list("MaskedPaths"),
        readonly_paths=f.str_list("ReadonlyPaths"),
        init=f.opt_boolean("Init"),
    )


def parse_networking_config(doc: Any) -> NetworkingConfig:
    """``NetworkingConfig.EndpointsConfig``: network name → what the client asks of its endpoint."""
    f = Fields(doc, "network.NetworkingConfig")
    raw = f.raw("EndpointsConfig")
    if raw is None:
        return NetworkingConfig()
    holder = Fields(raw, "network.EndpointsConfig")
    endpoints: dict[str, EndpointConfig] = {}
    for name in raw:
        e = holder.obj(name, "network.EndpointSettings") or Fields({}, "network.EndpointSettings")
        ipam = e.obj("IPAMConfig", "network.EndpointIPAMConfig") or Fields({}, "network.EndpointIPAMConfig")
        endpoints[name] = EndpointConfig(
            ipv4_address=ipam.string("IPv4Address"),
            ipv6_address=ipam.string("IPv6Address"),
            link_local_ips=ipam.str_list("LinkLocalIPs") or (),
            links=e.str_list("Links") or (),
            aliases=e.str_list("Aliases") or (),
            mac_address=e.string("MacAddress"),
            driver_opts=e.str_map("DriverOpts"),
            network_id=e.string("NetworkID"),
        )
    return NetworkingConfig(frozen_map(endpoints))


# --- validation ---------------------------------------------------------------


def split_port(key: str) -> tuple[str, str]:
    """``"80/udp"`` → ``("80", "udp")``; the protocol defaults to tcp."""
    port, _, proto = key.partition("/")
    return port, (proto or "tcp").lower()


def _port_key(key: str) -> str:
    port, proto = split_port(key)
    return f"{port}/{proto}"


def _check_port(text: str, allow_range: bool) -> None:
    bad = InvalidArgument(f'invalid port specification: "{text}"')
    if text == "":
        return
    parts = text.split("-", 1) if allow_range else [text]
    for part in parts:
        if not part.isdigit() or int(part) > 65535:
            raise bad
    if len(parts) == 2 and int(parts[1]) < int(parts[0]):
        raise bad


def _duration_text(ns: int) -> str:
    return f"{ns // 1_000_000}ms"


def validate_container_config(cfg: ContainerConfig) -> None:
    """Docker's checks on ``container.Config`` (working dir, stop signal, env, health check, ports)."""
    if cfg.working_dir and not cfg.working_dir.startswith("/"):
        raise InvalidArgument(f"the working directory '{cfg.working_dir}' is invalid, it needs to be an absolute path")
    if cfg.stop_signal:
        parse_signal(cfg.stop_signal)
    for entry in cfg.env or ():
        if entry.partition("=")[0] == "":
            raise InvalidArgument(f"invalid environment variable: {entry}")
    hc = cfg.healthcheck
    if hc is not None:
        for name, value in (("Interval", hc.interval), ("Timeout", hc.timeout)):
            if value != 0 and value < _MIN_DURATION_NS:
                raise InvalidArgument(f"{name} in Healthcheck cannot be less than {_duration_text(_MIN_DURATION_NS)}")
        if hc.retries < 0:
            raise InvalidArgument("Retries in Healthcheck cannot be negative")
        for name, value in (("StartPeriod", hc.start_period), ("StartInterval", hc.start_interval)):
            if value != 0 and value < _MIN_DURATION_NS:
                raise InvalidArgument(f"{name} in Healthcheck cannot be less than {_duration_text(_MIN_DURATION_NS)}")
    for key in cfg.exposed_ports or ():
        port, proto = split_port(key)
        _check_port(port, allow_range=False)
        if proto not in _PORT_PROTOCOLS:
            raise InvalidArgument(f'invalid port specification: "{key}"')
    if cfg.stop_timeout is not None and cfg.stop_timeout < -1:
        raise InvalidArgument(f"invalid stop timeout: {cfg.stop_timeout}")


def _mount_error(m: MountSpec, why: str) -> InvalidArgument:
    return InvalidArgument(f'invalid mount config for type "{m.type}": {why}')


def _check_mount(m: MountSpec) -> None:
    if m.type not in ("bind", "volume", "tmpfs"):
        raise _mount_error(m, "mount type unknown")
    if not m.target:
        raise _mount_error(m, "field Target must not be empty")
    if not m.target.startswith("/"):
        raise _mount_error(m, f"invalid mount path: '{m.target}' mount path must be absolute")
    if m.type == "bind":
        if not m.source:
            raise _mount_error(m, "field Source must not be empty")
        if not m.source.startswith("/"):
            raise _mount_error(m, f"invalid mount path: '{m.source}' mount path must be absolute")
        if m.volume_options is not None:
            raise _mount_error(m, "field VolumeOptions must not be specified")
        if m.tmpfs_options is not None:
            raise _mount_error(m, "field TmpfsOptions must not be specified")
        prop = m.bind_options.propagation if m.bind_options else ""
        if prop not in ("", "private", "rprivate", "shared", "rshared", "slave", "rslave"):
            raise _mount_error(m, f"invalid propagation mode: {prop}")
    elif m.type == "volume":
        if m.bind_options is not None:
            raise _mount_error(m, "field BindOptions must not be specified")
        if m.tmpfs_options is not None:
            raise _mount_error(m, "field TmpfsOptions must not be specified")
    else:
        if m.source:
            raise _mount_error(m, "field Source must not be specified")
        if m.bind_options is not None:
            raise _mount_error(m, "field BindOptions must not be specified")
        if m.volume_options is not None:
            raise _mount_error(m, "field VolumeOptions must not be specified")
        if m.tmpfs_options is not None and m.tmpfs_options.size_bytes < 0:
            raise _mount_error(m, f"invalid tmpfs size {m.tmpfs_options.size_bytes}")


def _check_extra_host(entry: str) -> None:
    name, sep, ip = entry.partition(":")
    if not sep or not name:
        raise InvalidArgument(f'bad format for add-host: "{entry}"')
    if ip == "host-gateway":
        return
    try:
        ipaddress.ip_address(ip.strip("[]"))
    except ValueError:
        raise InvalidArgument(f'invalid IP address in add-host: "{ip}"') from None


def _check_restart_policy(p: RestartPolicy) -> None:
    if p.name in ("always", "unless-stopped", "no"):
        if p.maximum_retry_count != 0:
            msg = "invalid restart policy: maximum retry count can only be used with 'on-failure'"
            if p.maximum_retry_count < 0:
                msg += " and cannot be negative"
            raise InvalidArgument(msg)
    elif p.name == "on-failure":
        if p.maximum_retry_count < 0:
            raise InvalidArgument("invalid restart policy: maximum retry count cannot be negative")
    elif p.name != "":
        # Docker's wording lists the policies in this order.
        raise InvalidArgument(
            f"invalid restart policy: unknown policy '{p.name}'; use one of 'no', 'always', 'on-failure', "
            "or 'unless-stopped'"
        )


def _check_modes(hc: HostConfig) -> None:
    def joins(mode: str) -> bool:
        return mode.startswith("container:") and len(mode) > len("container:")

    if not (hc.ipc_mode in ("", "host", "private", "shareable", "none") or joins(hc.ipc_mode)):
        raise InvalidArgument(f"invalid IPC mode: {hc.ipc_mode}")
    if not (hc.pid_mode in ("", "host") or joins(hc.pid_mode)):
        raise InvalidArgument(f"invalid PID mode: {hc.pid_mode}")
    if hc.uts_mode not in ("", "host"):
        raise InvalidArgument(f"invalid UTS mode: {hc.uts_mode}")
    if hc.cgroupns_mode not in ("", "host", "private"):
        raise InvalidArgument(f"invalid cgroup namespace mode: {hc.cgroupns_mode}")
    if hc.userns_mode not in ("", "host"):
        raise InvalidArgument(f"invalid USER mode: {hc.userns_mode}")
    if hc.isolation not in ("", "default"):
        raise InvalidArgument(f"invalid isolation '{hc.isolation}' on linux")
    if hc.network_mode.startswith("container:") and not joins(hc.network_mode):
        raise InvalidArgument("Invalid network mode: invalid container format container:<name|id>")


def _check_resources(r: Resources) -> None:
    if r.memory < 0 or r.memory_reservation < 0 or r.kernel_memory < 0 or r.kernel_memory_tcp < 0:
        raise InvalidArgument("invalid memory value: must not be negative")
    if 0 < r.memory < _MIN_MEMORY:
        raise InvalidArgument("Minimum memory limit allowed is 6MB")
    if r.memory_swap > 0 and r.memory == 0:
        raise InvalidArgument("You should always set the Memory limit when using Memoryswap limit, see usage")
    if r.memory > 0 and r.memory_swap > 0 and r.memory_swap < r.memory:
        raise InvalidArgument("Minimum memoryswap limit should be larger than memory limit, see usage")
    if r.memory_swap < -1:
        raise InvalidArgument(f"invalid memory swap value: {r.memory_swap}")
    if r.memory_swappiness is not None and not 0 <= r.memory_swappiness <= 100:
        raise InvalidArgument(f"Invalid value: {r.memory_swappiness}, valid memory swappiness range is 0-100")
    if 0 < r.memory_reservation < _MIN_MEMORY:
        raise InvalidArgument("Minimum memory reservation allowed is 6MB")
    if r.memory > 0 and r.memory_reservation > 0 and r.memory < r.memory_reservation:
        raise InvalidArgument("Minimum memory limit can not be less than memory reservation limit, see usage")
    if r.nano_cpus > 0 and r.cpu_period > 0:
        raise InvalidArgument("Conflicting options: Nano CPUs and CPU Period cannot both be set")
    if r.nano_cpus > 0 and r.cpu_quota > 0:
        raise InvalidArgument("Conflicting options: Nano CPUs and CPU Quota cannot both be set")
    if r.nano_cpus < 0:
        raise InvalidArgument("Range of CPUs is from 0.01 to the number of CPUs available")
    if r.cpu_shares < 0:
        raise InvalidArgument("shares: invalid argument")
    if r.cpu_period != 0 and not 1000 <= r.cpu_period <= 1_000_000:
        raise InvalidArgument("CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)")
    if 0 < r.cpu_quota < 1000:
        raise InvalidArgument("CPU cfs quota can not be less than 1ms (i.e. 1000)")
    if r.blkio_weight > 0 and not 10 <= r.blkio_weight <= 1000:
        raise InvalidArgument("Range of blkio weight is from 10 to 1000")
    for w in r.blkio_weight_device or ():
        if not 10 <= w.weight <= 1000:
            raise InvalidArgument("Range of blkio weight is from 10 to 1000")
    for u in r.ulimits or ():
        if u.name not in ULIMIT_NAMES:
            raise InvalidArgument(f"invalid ulimit type: {u.name}")
        if u.soft > u.hard:
            raise InvalidArgument(f"ulimit soft limit must be less than or equal to hard limit: {u.soft} > {u.hard}")
    for rule in r.device_cgroup_rules or ():
        parse_device_cgroup_rule(rule)
    for d in r.devices or ():
        if not d.path_on_host:
            raise InvalidArgument("invalid device mapping: PathOnHost must not be empty")
        if d.cgroup_permissions and not set(d.cgroup_permissions) <= set("rwm"):
            raise InvalidArgument(f"invalid device mode: {d.cgroup_permissions}")


def _check_sysctls(hc: HostConfig) -> None:
    for key in hc.sysctls or {}:
        if key in _SYSCTL_IPC or key.startswith("fs.mqueue."):
            if hc.ipc_mode == "host":
                # It would change the host's own setting.
                raise InvalidArgument(f'sysctl "{key}" not allowed in host IPC namespace')
            continue
        if key.startswith("net."):
            if hc.network_mode == "host":
                raise InvalidArgument(f'sysctl "{key}" not allowed in host network namespace')
            continue
        raise InvalidArgument(f"sysctl '{key}' is not allowed")


def validate_host_config(hc: HostConfig) -> None:
    """Docker's checks on ``HostConfig`` that need nothing from the host."""
    if hc.auto_remove and hc.restart_policy.name not in ("", "no"):
        raise InvalidArgument("can't create 'AutoRemove' container with restart policy")
    for m in hc.mounts or ():
        _check_mount(m)
    targets = [parse_bind(b, hc.volume_driver).target for b in hc.binds or ()]
    targets += [posixpath.normpath(m.target) for m in hc.mounts or ()]
    targets += [posixpath.normpath(t) for t in hc.tmpfs or {}]
    for i, target in enumerate(targets):
        if target in targets[:i]:
            raise InvalidArgument(f"Duplicate mount point: {target}")
    for target, data in (hc.tmpfs or {}).items():
        if not target.startswith("/"):
            raise InvalidArgument(
                f"invalid mount config for type \"tmpfs\": invalid mount path: '{target}' mount path must be absolute"
            )
        tmpfs_mount_options(data)
    for entry in hc.extra_hosts or ():
        _check_extra_host(entry)
    for key, bindings in (hc.port_bindings or {}).items():
        port, proto = split_port(key)
        _check_port(port, allow_range=False)
        if proto not in _PORT_PROTOCOLS:
            raise InvalidArgument(f'invalid port specification: "{key}"')
        for b in bindings or ():
            _check_port(b.host_port, allow_range=True)
    _check_restart_policy(hc.restart_policy)
    for key in hc.annotations or {}:
        if key == "":
            raise InvalidArgument("invalid Annotations: the empty string is not permitted as an annotation key")
    normalize_capabilities(hc.cap_add or (), "CapAdd")
    normalize_capabilities(hc.cap_drop or (), "CapDrop")
    _check_modes(hc)
    if hc.oom_score_adj < -1000 or hc.oom_score_adj > 1000:
        raise InvalidArgument(f"Invalid value {hc.oom_score_adj}, range for oom score adj is [-1000, 1000]")
    if hc.shm_size < 0:
        raise InvalidArgument("SHM size can not be less than 0")
    seccomp = parse_security_opts(hc.security_opt or ()).seccomp_profile
    if seccomp not in ("", "builtin", "unconfined"):
        parse_profile(seccomp)  # a malformed profile is refused at create, before anything starts
    _check_resources(hc.resources)
    _check_sysctls(hc)
    for path in (hc.masked_paths or ()) + (hc.readonly_paths or ()):
        if not path.startswith("/"):
            raise InvalidArgument(f"invalid path {path!r}: masked and read-only paths must be absolute")


def with_network_mode(hc: HostConfig, mode: str) -> HostConfig:
    """``hc`` with its network mode decided by the engine."""
    return replace(hc, network_mode=mode)


def clean_working_dir(cfg: ContainerConfig) -> str:
    """The working directory Docker stores: cleaned, ``""`` when unset."""
    if not cfg.working_dir:
        return ""
    cleaned = posixpath.normpath(cfg.working_dir)
    return "/" + cleaned.lstrip("/")


# --- JSON as inspect shows it -------------------------------------------------


def _list(items: tuple[str, ...] | None) -> list[str] | None:
    return None if items is None else list(items)


def _map(items: Mapping[str, str] | None) -> dict[str, str] | None:
    return None if items is None else dict(items)


def _key_set(keys: tuple[str, ...] | None) -> dict[str, dict[str, Any]] | None:
    return None if keys is None else {k: {} for k in keys}


def healthcheck_to_json(hc: Healthcheck) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if hc.test:
        out["Test"] = list(hc.test)
    for key, value in (
        ("Interval", hc.interval),
        ("Timeout", hc.timeout),
        ("StartPeriod", hc.start_period),
        ("StartInterval", hc.start_interval),
        ("Retries", hc.retries),
    ):
        if value:
            out[key] = value
    return out


def config_to_json(cfg: ContainerConfig) -> dict[str, Any]:
    """The ``Config`` object of container inspect, in Docker's field order (``omitempty`` fields left out)."""
    out: dict[str, Any] = {
        "Hostname": cfg.hostname,
        "Domainname": cfg.domainname,
        "User": cfg.user,
        "AttachStdin": cfg.attach_stdin,
        "AttachStdout": cfg.attach_stdout,
        "AttachStderr": cfg.attach_stderr,
    }
    if cfg.exposed_ports:
        out["ExposedPorts"] = _key_set(cfg.exposed_ports)
    out |= {
        "Tty": cfg.tty,
        "OpenStdin": cfg.open_stdin,
        "StdinOnce": cfg.stdin_once,
        "Env": _list(cfg.env),
        "Cmd": _list(cfg.cmd),
    }
    if cfg.healthcheck is not None:
        out["Healthcheck"] = healthcheck_to_json(cfg.healthcheck)
    if cfg.args_escaped:
        out["ArgsEscaped"] = True
    out |= {
        "Image": cfg.image,
        "Volumes": _key_set(cfg.volumes),
        "WorkingDir": cfg.working_dir,
        "Entrypoint": _list(cfg.entrypoint),
    }
    if cfg.network_disabled:
        out["NetworkDisabled"] = True
    if cfg.mac_address:
        out["MacAddress"] = cfg.mac_address
    out |= {"OnBuild": _list(cfg.on_build), "Labels": _map(cfg.labels)}
    if cfg.stop_signal:
        out["StopSignal"] = cfg.stop_signal
    if cfg.stop_timeout is not None:
        out["StopTimeout"] = cfg.stop_timeout
    if cfg.shell:
        out["Shell"] = list(cfg.shell)
    return out


def _throttle_json(items: tuple[ThrottleDevice, ...] | None) -> list[dict[str, Any]] | None:
    return None if items is None else [{"Path": t.path, "Rate": t.rate} for t in items]


def _resources_json(r: Resources) -> dict[str, Any]:
    return {
        "CpuShares": r.cpu_shares,
        "Memory": r.memory,
        "NanoCpus": r.nano_cpus,
        "CgroupParent": r.cgroup_parent,
        "BlkioWeight": r.blkio_weight,
        "BlkioWeightDevice": None
        if r.blkio_weight_device is None
        else [{"Path": w.path, "Weight": w.weight} for w in r.blkio_weight_device],
        "BlkioDeviceReadBps": _throttle_json(r.blkio_device_read_bps),
        "BlkioDeviceWriteBps": _throttle_json(r.blkio_device_write_bps),
        "BlkioDeviceReadIOps": _throttle_json(r.blkio_device_read_iops),
        "BlkioDeviceWriteIOps": _throttle_json(r.blkio_device_write_iops),
        "CpuPeriod": r.cpu_period,
        "CpuQuota": r.cpu_quota,
        "CpuRealtimePeriod": r.cpu_realtime_period,
        "CpuRealtimeRuntime": r.cpu_realtime_runtime,
        "CpusetCpus": r.cpuset_cpus,
        "CpusetMems": r.cpuset_mems,
        "Devices": None
        if r.devices is None
        else [
            {
                "PathOnHost": d.path_on_host,
                "PathInContainer": d.path_in_container,
                "CgroupPermissions": d.cgroup_permissions,
            }
            for d in r.devices
        ],
        "DeviceCgroupRules": _list(r.device_cgroup_rules),
        "DeviceRequests": None if r.device_requests is None else [dict(d) for d in r.device_requests],
        "KernelMemory": r.kernel_memory,
        "KernelMemoryTCP": r.kernel_memory_tcp,
        "MemoryReservation": r.memory_reservation,
        "MemorySwap": r.memory_swap,
        "MemorySwappiness": r.memory_swappiness,
        "OomKillDisable": r.oom_kill_disable,
        "PidsLimit": r.pids_limit,
        "Ulimits": None if r.ulimits is None else [{"Name": u.name, "Hard": u.hard, "Soft": u.soft} for u in r.ulimits],
        "CpuCount": r.cpu_count,
        "CpuPercent": r.cpu_percent,
        "IOMaximumIOps": r.io_maximum_iops,
        "IOMaximumBandwidth": r.io_maximum_bandwidth,
    }


def _mount_json(m: MountSpec) -> dict[str, Any]:
    out: dict[str, Any] = {"Type": m.type, "Source": m.source, "Target": m.target}
    if m.read_only:
        out["ReadOnly"] = True
    if m.consistency:
        out["Consistency"] = m.consistency
    if m.bind_options is not None:
        b = m.bind_options
        bind: dict[str, Any] = {}
        if b.propagation:
            bind["Propagation"] = b.propagation
        for key, flag in (
            ("NonRecursive", b.non_recursive),
            ("CreateMountpoint", b.create_mountpoint),
            ("ReadOnlyNonRecursive", b.read_only_non_recursive),
            ("ReadOnlyForceRecursive", b.read_only_force_recursive),
        ):
            if flag:
                bind[key] = True
        out["BindOptions"] = bind
    if m.volume_options is not None:
        v = m.volume_options
        vol: dict[str, Any] = {}
        if v.no_copy:
            vol["NoCopy"] = True
        if v.labels:
            vol["Labels"] = dict(v.labels)
        if v.subpath:
            vol["Subpath"] = v.subpath
        if v.driver_name or v.driver_options:
            driver: dict[str, Any] = {"Name": v.driver_name}
            if v.driver_options:
                driver["Options"] = dict(v.driver_options)
            vol["DriverConfig"] = driver
        out["VolumeOptions"] = vol
    if m.tmpfs_options is not None:
        t: dict[str, Any] = {}
        if m.tmpfs_options.size_bytes:
            t["SizeBytes"] = m.tmpfs_options.size_bytes
        if m.tmpfs_options.mode:
            t["Mode"] = m.tmpfs_options.mode
        out["TmpfsOptions"] = t
    return out


def host_config_to_json(hc: HostConfig) -> dict[str, Any]:
    """The ``HostConfig`` object of container inspect, in Docker's field order."""
    out: dict[str, Any] = {
        "Binds": _list(hc.binds),
        "ContainerIDFile": hc.container_id_file,
        "LogConfig": {"Type": hc.log_config.type, "Config": dict(hc.log_config.config)},
        "NetworkMode": hc.network_mode,
        "PortBindings": None
        if hc.port_bindings is None
        else {
            port: None if bs is None else [{"HostIp": b.host_ip, "HostPort": b.host_port} for b in bs]
            for port, bs in hc.port_bindings.items()
        },
        "RestartPolicy": {"Name": hc.restart_policy.name, "MaximumRetryCount": hc.restart_policy.maximum_retry_count},
        "AutoRemove": hc.auto_remove,
        "VolumeDriver": hc.volume_driver,
        "VolumesFrom": _list(hc.volumes_from),
    }
    if hc.annotations:
        out["Annotations"] = dict(hc.annotations)
    out |= {
        "CapAdd": _list(hc.cap_add),
        "CapDrop": _list(hc.cap_drop),
        "CgroupnsMode": hc.cgroupns_mode,
        "Dns": _list(hc.dns),
        "DnsOptions": _list(hc.dns_options),
        "DnsSearch": _list(hc.dns_search),
        "ExtraHosts": _list(hc.extra_hosts),
        "GroupAdd": _list(hc.group_add),
        "IpcMode": hc.ipc_mode,
        "Cgroup": hc.cgroup,
        "Links": _list(hc.links),
        "OomScoreAdj": hc.oom_score_adj,
        "PidMode": hc.pid_mode,
        "Privileged": hc.privileged,
        "PublishAllPorts": hc.publish_all_ports,
        "ReadonlyRootfs": hc.readonly_rootfs,
        "SecurityOpt": _list(hc.security_opt),
    }
    if hc.storage_opt:
        out["StorageOpt"] = dict(hc.storage_opt)
    if hc.tmpfs:
        out["Tmpfs"] = dict(hc.tmpfs)
    out |= {"UTSMode": hc.uts_mode, "UsernsMode": hc.userns_mode, "ShmSize": hc.shm_size}
    if hc.sysctls:
        out["Sysctls"] = dict(hc.sysctls)
    if hc.runtime:
        out["Runtime"] = hc.runtime
    out |= {"ConsoleSize": list(hc.console_size), "Isolation": hc.isolation}
    out |= _resources_json(hc.resources)
    if hc.mounts:
        out["Mounts"] = [_mount_json(m) for m in hc.mounts]
    out |= {"MaskedPaths": _list(hc.masked_paths), "ReadonlyPaths": _list(hc.readonly_paths)}
    if hc.init is not None:
        out["Init"] = hc.init
    return out
