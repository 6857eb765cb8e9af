"""The OCI runtime ``config.json`` of a container: pure, deterministic, golden-tested.

It follows what dockerd produces (moby's oci defaults and ``daemon/oci_linux.go``),
with one documented addition: the device allow-list spells out /dev/ptmx and
/dev/pts (see ``devices``), so containers don't depend on the runtime adding them.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from dockyard.containers.capabilities import effective_capabilities
from dockyard.containers.create_request import ContainerConfig, HostConfig, Resources, Ulimit
from dockyard.containers.devices import ALLOW_ALL_DEVICES, DEFAULT_DEVICE_RULES, DeviceRule, parse_device_cgroup_rule
from dockyard.containers.env import container_env
from dockyard.containers.hostconfig_defaults import DEFAULT_SHM_SIZE
from dockyard.containers.paths import DEFAULT_MASKED_PATHS, DEFAULT_READONLY_PATHS
from dockyard.containers.security_opts import parse_security_opts
from dockyard.containers.tmpfs import tmpfs_mount_options, tmpfs_options_data
from dockyard.containers.user import ResolvedUser
from dockyard.errors import InvalidArgument
from dockyard.mount.types import Mount

__all__ = [
    "DEFAULT_CGROUP_PARENT",
    "DEFAULT_ULIMITS",
    "INIT_PATH_IN_CONTAINER",
    "OCI_VERSION",
    "LinuxDevice",
    "SpecInput",
    "default_mounts",
    "generate_spec",
    "standard_file_mounts",
]

OCI_VERSION = "1.0.2"
DEFAULT_CGROUP_PARENT = "/dockyard"
INIT_PATH_IN_CONTAINER = "/sbin/docker-init"

# Like dockerd without --default-ulimit: no rlimits of our own, so the container inherits
# the daemon's (via the shim). A fixed value such as 1048576 would fail to start on
# hosts whose hard limit is lower and where the daemon lacks CAP_SYS_RESOURCE. The
# daemon's configured default ulimits go in SpecInput.default_ulimits; HostConfig.Ulimits
# override them per name.
DEFAULT_ULIMITS: tuple[Ulimit, ...] = ()

_PTS = "/dev/pts"
UNPRIVILEGED_NET_SYSCTLS = (
    ("net.ipv4.ip_unprivileged_port_start", "0"),
    ("net.ipv4.ping_group_range", "0 2147483647"),
)


@dataclass(frozen=True)
class LinuxDevice:
    """A device node to create in the container (resolved by the engine from ``HostConfig.Devices``)."""

    path: str  # inside the container
    type: str  # "c" or "b"
    major: int
    minor: int
    file_mode: int = 0o666
    uid: int = 0
    gid: int = 0
    permissions: str = "rwm"  # cgroup access

    def to_spec(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "type": self.type,
            "major": self.major,
            "minor": self.minor,
            "fileMode": self.file_mode,
            "uid": self.uid,
            "gid": self.gid,
        }


@dataclass(frozen=True)
class SpecInput:
    """Everything the spec depends on, already resolved by the engine.

    ``config`` is the container config merged with the image's; ``host_config`` has
    the daemon defaults applied. ``env`` defaults to :func:`container_env` of the
    config (PATH, HOSTNAME, TERM with a TTY, HOME from ``user``). ``extra_mounts``
    are the daemon-provided and volume mounts (targets set): see
    :func:`standard_file_mounts`, binds, volumes, and a /dev/shm bind for shared IPC;
    for one target the later entry wins, so list the user's after the daemon's.
    HostConfig.Tmpfs and ``--mount type=tmpfs`` entries are turned into mounts here.
    ``network_namespace`` is None or ``"new"`` (a new one), ``"host"``, or the path of
    one to join; ``ipc_ns_path``/``pid_ns_path`` are needed for ``container:<id>``
    modes. ``cgroups_path`` defaults to ``<CgroupParent or /dockyard>/<id>``.
    ``block_devices`` maps host paths named in the Blkio* fields to their (major,
    minor). ``init_path`` is the host's init binary used for ``Init: true``.
    ``available_capabilities`` (the daemon's own bounding set, see
    ``capabilities_from_mask``) limits what is granted: a daemon running inside a
    restricted container cannot hand out capabilities it lacks, and runtimes refuse
    to try.
    """

    container_id: str
    config: ContainerConfig
    host_config: HostConfig
    user: ResolvedUser
    args: tuple[str, ...]
    env: tuple[str, ...] | None = None
    cwd: str = ""
    hostname: str = ""
    rootfs: str = "rootfs"
    extra_mounts: tuple[Mount, ...] = ()
    network_namespace: str | None = None
    ipc_ns_path: str = ""
    pid_ns_path: str = ""
    cgroups_path: str = ""
    default_ulimits: tuple[Ulimit, ...] = DEFAULT_ULIMITS
    devices: tuple[LinuxDevice, ...] = ()
    block_devices: Mapping[str, tuple[int, int]] = field(default_factory=lambda: MappingProxyType({}))
    annotations: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    seccomp: Mapping[str, Any] | None = None
    init_path: str = ""
    available_capabilities: frozenset[str] | None = None
    # (container id, host id, size) ranges: a new user namespace (daemon userns-remap) when set.
    uid_mappings: tuple[tuple[int, int, int], ...] = ()
    gid_mappings: tuple[tuple[int, int, int], ...] = ()
    # The AppArmor profile the engine chose and loaded; "" (none) on hosts without AppArmor.
    apparmor_profile: str = ""

    @property
    def _hostname(self) -> str:
        return self.hostname or self.config.hostname or self.container_id[:12]

    @property
    def _netns(self) -> str:
        return self.network_namespace or "new"


def standard_file_mounts(
    hostname_path: str, hosts_path: str, resolv_conf_path: str, *, read_only: bool = False
) -> tuple[Mount, ...]:
    """The daemon-written /etc/resolv.conf, /etc/hostname and /etc/hosts, bind-mounted (read-only with a
    read-only rootfs, as Docker does)."""
    opts = ("rbind", "ro", "rprivate") if read_only else ("rbind", "rprivate")
    return (
        Mount("bind", resolv_conf_path, opts, "/etc/resolv.conf"),
        Mount("bind", hostname_path, opts, "/etc/hostname"),
        Mount("bind", hosts_path, opts, "/etc/hosts"),
    )


def default_mounts(shm_size: int = DEFAULT_SHM_SIZE, *, privileged: bool = False) -> list[Mount]:
    """The kernel filesystems every container gets (moby's defaults); /sys and cgroups are rw when privileged."""
    ro = () if privileged else ("ro",)
    return [
        Mount("proc", "proc", ("nosuid", "noexec", "nodev"), "/proc"),
        Mount("tmpfs", "tmpfs", ("nosuid", "strictatime", "mode=755", "size=65536k"), "/dev"),
        Mount("devpts", "devpts", ("nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"), _PTS),
        Mount("sysfs", "sysfs", ("nosuid", "noexec", "nodev", *ro), "/sys"),
        Mount("cgroup", "cgroup", (*ro, "nosuid", "noexec", "nodev"), "/sys/fs/cgroup"),
        Mount("mqueue", "mqueue", ("nosuid", "noexec", "nodev"), "/dev/mqueue"),
        Mount("tmpfs", "shm", ("nosuid", "noexec", "nodev", "mode=1777", f"size={shm_size}"), "/dev/shm"),
    ]


def _depth(path: str) -> int:
    return len([p for p in posixpath.normpath(path).split("/") if p])


def _user_mounts(inp: SpecInput) -> list[Mount]:
    hc = inp.host_config
    mounts = list(inp.extra_mounts)
    for target, data in sorted((hc.tmpfs or {}).items()):
        mounts.append(Mount("tmpfs", "tmpfs", tuple(tmpfs_mount_options(data)), target))
    for spec in hc.mounts or ():
        if spec.type == "tmpfs":
            opts = spec.tmpfs_options
            data = tmpfs_options_data(opts.size_bytes if opts else 0, opts.mode if opts else 0, spec.read_only)
            mounts.append(Mount("tmpfs", "tmpfs", tuple(tmpfs_mount_options(data)), spec.target))
    if hc.init and inp.init_path:
        mounts.append(Mount("bind", inp.init_path, ("bind", "ro"), INIT_PATH_IN_CONTAINER))
    by_target: dict[str, Mount] = {}
    for m in mounts:
        if not m.target.startswith("/"):
            raise InvalidArgument(f"mount target {m.target!r} must be an absolute path")
        # A later mount wins: the user's bind over the daemon's /etc/hosts, say.
        by_target.pop(posixpath.normpath(m.target), None)
        by_target[posixpath.normpath(m.target)] = m
    # Parents before children, so a mount is never hidden by one on its parent directory.
    return sorted(by_target.values(), key=lambda m: _depth(m.target))


def _mounts(inp: SpecInput) -> list[Mount]:
    hc = inp.host_config
    user = _user_mounts(inp)
    targets = {posixpath.normpath(m.target) for m in user}
    replaces_dev = "/dev" in targets
    base = []
    for m in default_mounts(hc.shm_size or DEFAULT_SHM_SIZE, privileged=hc.privileged):
        if m.target in targets or (replaces_dev and m.target.startswith("/dev/")):
            continue
        if m.target == "/dev/shm" and hc.ipc_mode == "none":
            continue
        if m.type == "sysfs" and _host_owned_netns(inp):
            # sysfs may only be mounted by the owner of the network namespace: bind the host's, read-only.
            m = Mount("bind", "/sys", ("rbind", "nosuid", "noexec", "nodev", "ro"), "/sys")
        base.append(m)
    return base + user


def _host_owned_netns(inp: SpecInput) -> bool:
    """A user namespace that joins a network namespace the daemon made (which the host's user namespace owns)."""
    return bool(inp.uid_mappings) and inp._netns not in ("new", "host")


def _rootfs_propagation(mounts: Sequence[Mount]) -> str:
    result = ""
    for m in mounts:
        opts = set(m.options)
        if opts & {"shared", "rshared"}:
            result = "shared"
        elif opts & {"slave", "rslave"} and result != "shared":
            result = "rslave"
    return result


def _namespaces(inp: SpecInput) -> list[dict[str, str]]:
    hc = inp.host_config
    out: list[dict[str, str]] = [{"type": "mount"}]
    if inp.uid_mappings:
        out.append({"type": "user"})

    if hc.network_mode != "host" and inp._netns != "host":
        joins = inp._netns != "new"
        out.append({"type": "network", "path": inp._netns} if joins else {"type": "network"})
    if hc.uts_mode != "host":
        out.append({"type": "uts"})

    if hc.pid_mode.startswith("container:"):
        if not inp.pid_ns_path:
            raise InvalidArgument(f"PID mode {hc.pid_mode} needs the namespace path of that container")
        out.append({"type": "pid", "path": inp.pid_ns_path})
    elif hc.pid_mode != "host":
        out.append({"type": "pid"})

    if hc.ipc_mode.startswith("container:"):
        if not inp.ipc_ns_path:
            raise InvalidArgument(f"IPC mode {hc.ipc_mode} needs the namespace path of that container")
        out.append({"type": "ipc", "path": inp.ipc_ns_path})
    elif hc.ipc_mode != "host":
        out.append({"type": "ipc"})

    if hc.cgroupns_mode == "private":
        out.append({"type": "cgroup"})
    return out


def _rlimits(inp: SpecInput) -> list[dict[str, Any]]:
    limits = {u.name: u for u in inp.host_config.resources.ulimits or ()}
    for u in inp.default_ulimits:
        limits.setdefault(u.name, u)
    return [{"type": "RLIMIT_" + u.name.upper(), "hard": u.hard, "soft": u.soft} for u in limits.values()]


def _process(inp: SpecInput) -> dict[str, Any]:
    hc = inp.host_config
    caps = list(effective_capabilities(hc.cap_add, hc.cap_drop, privileged=hc.privileged))
    if inp.available_capabilities is not None:
        caps = [c for c in caps if c in inp.available_capabilities]
    # Like execve, a non-root process starts with empty effective/permitted sets.
    capabilities: dict[str, Any] = {"bounding": caps}
    if inp.user.uid == 0:
        capabilities |= {"effective": caps, "permitted": caps}
    args = list(inp.args)
    if hc.init and inp.init_path:
        args = [INIT_PATH_IN_CONTAINER, "--", *args]
    if not args:
        raise InvalidArgument("No command specified")

    if inp.env is not None:
        env = list(inp.env)
    else:
        env = container_env(inp.config.env, hostname=inp._hostname, tty=inp.config.tty, home=inp.user.home)
    process: dict[str, Any] = {"terminal": inp.config.tty}
    height, width = hc.console_size
    if inp.config.tty and (height or width):
        process["consoleSize"] = {"height": height, "width": width}
    process |= {
        "user": {"uid": inp.user.uid, "gid": inp.user.gid, "additionalGids": list(inp.user.additional_gids)},
        "args": args,
        "env": env,
        "cwd": inp.cwd or inp.config.working_dir or "/",
        "capabilities": capabilities,
    }
    rlimits = _rlimits(inp)
    if rlimits:
        process["rlimits"] = rlimits
    if parse_security_opts(hc.security_opt or ()).no_new_privileges:
        process["noNewPrivileges"] = True
    if inp.apparmor_profile:
        process["apparmorProfile"] = inp.apparmor_profile
    process["oomScoreAdj"] = hc.oom_score_adj
    return process


def _memory(r: Resources) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if r.memory > 0:
        out["limit"] = r.memory
    if r.memory_reservation > 0:
        out["reservation"] = r.memory_reservation
    if r.memory_swap > 0:
        out["swap"] = r.memory_swap
    if r.kernel_memory:
        out["kernel"] = r.kernel_memory
    if r.kernel_memory_tcp:
        out["kernelTCP"] = r.kernel_memory_tcp
    if r.memory_swappiness is not None:
        out["swappiness"] = r.memory_swappiness
    if r.oom_kill_disable:
        out["disableOOMKiller"] = True
    return out


def _cpu(r: Resources) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if r.cpu_shares > 0:
        out["shares"] = r.cpu_shares
    quota, period = 0, 0
    if r.nano_cpus > 0:
        # Docker expresses --cpus as a CFS quota over a 100ms period.
        period = 100_000
        quota = r.nano_cpus * period // 1_000_000_000
    quota = r.cpu_quota or quota
    period = r.cpu_period or period
    if quota:
        out["quota"] = quota
    if period:
        out["period"] = period
    if r.cpu_realtime_runtime:
        out["realtimeRuntime"] = r.cpu_realtime_runtime
    if r.cpu_realtime_period:
        out["realtimePeriod"] = r.cpu_realtime_period
    if r.cpuset_cpus:
        out["cpus"] = r.cpuset_cpus
    if r.cpuset_mems:
        out["mems"] = r.cpuset_mems
    return out


def _device_numbers(inp: SpecInput, path: str) -> tuple[int, int]:
    numbers = inp.block_devices.get(path)
    if numbers is None:
        raise InvalidArgument(f"block device {path!r} was not resolved to major:minor numbers")
    return numbers


def _block_io(inp: SpecInput) -> dict[str, Any]:
    r = inp.host_config.resources
    out: dict[str, Any] = {}
    if r.blkio_weight:
        out["weight"] = r.blkio_weight
    if r.blkio_weight_device:
        out["weightDevice"] = [
            dict(zip(("major", "minor"), _device_numbers(inp, w.path), strict=True)) | {"weight": w.weight}
            for w in r.blkio_weight_device
        ]
    for key, items in (
        ("throttleReadBpsDevice", r.blkio_device_read_bps),
        ("throttleWriteBpsDevice", r.blkio_device_write_bps),
        ("throttleReadIOPSDevice", r.blkio_device_read_iops),
        ("throttleWriteIOPSDevice", r.blkio_device_write_iops),
    ):
        if items:
            out[key] = [
                dict(zip(("major", "minor"), _device_numbers(inp, t.path), strict=True)) | {"rate": t.rate}
                for t in items
            ]
    return out


def _device_rules(inp: SpecInput) -> list[DeviceRule]:
    hc = inp.host_config
    if hc.privileged:
        return list(ALLOW_ALL_DEVICES)
    rules = list(DEFAULT_DEVICE_RULES)
    rules += [DeviceRule(True, d.type, d.major, d.minor, d.permissions or "rwm") for d in inp.devices]
    rules += [parse_device_cgroup_rule(r) for r in hc.resources.device_cgroup_rules or ()]
    return rules


def _resources(inp: SpecInput) -> dict[str, Any]:
    r = inp.host_config.resources
    out: dict[str, Any] = {"devices": [d.to_spec() for d in _device_rules(inp)]}
    for key, value in (("memory", _memory(r)), ("cpu", _cpu(r)), ("blockIO", _block_io(inp))):
        if value:
            out[key] = value
    if r.pids_limit is not None and r.pids_limit > 0:
        out["pids"] = {"limit": r.pids_limit}
    return out


def _sysctl(inp: SpecInput) -> dict[str, str]:
    hc = inp.host_config
    out = dict(sorted((hc.sysctls or {}).items()))
    own_netns = hc.network_mode != "host" and not hc.network_mode.startswith("container:") and inp._netns != "host"
    # With a remapped root in a netns the daemon made, the daemon sets these itself (a runtime inside
    # the user namespace may not): see engine/userns_remap.py.
    if own_netns and not _host_owned_netns(inp):
        # Docker lets unprivileged processes bind low ports and ping inside a private netns.
        for key, value in UNPRIVILEGED_NET_SYSCTLS:
            out.setdefault(key, value)
    return out


def _linux(inp: SpecInput, mounts: Sequence[Mount]) -> dict[str, Any]:
    hc = inp.host_config
    linux: dict[str, Any] = {}
    sysctl = _sysctl(inp)
    if sysctl:
        linux["sysctl"] = sysctl
    linux["resources"] = _resources(inp)
    parent = hc.resources.cgroup_parent or DEFAULT_CGROUP_PARENT
    linux["cgroupsPath"] = inp.cgroups_path or posixpath.join("/", parent.strip("/"), inp.container_id)
    linux["namespaces"] = _namespaces(inp)
    if inp.uid_mappings:
        linux["uidMappings"] = [{"containerID": c, "hostID": h, "size": n} for c, h, n in inp.uid_mappings]
        linux["gidMappings"] = [{"containerID": c, "hostID": h, "size": n} for c, h, n in inp.gid_mappings]
    if inp.devices:
        linux["devices"] = [d.to_spec() for d in inp.devices]
    if inp.seccomp is not None:
        linux["seccomp"] = dict(inp.seccomp)
    propagation = _rootfs_propagation(mounts)
    if propagation:
        linux["rootfsPropagation"] = propagation
    if not hc.privileged:
        masked = DEFAULT_MASKED_PATHS if hc.masked_paths is None else hc.masked_paths
        readonly = DEFAULT_READONLY_PATHS if hc.readonly_paths is None else hc.readonly_paths
        if masked:
            linux["maskedPaths"] = list(masked)
        if readonly:
            linux["readonlyPaths"] = list(readonly)
    return linux


def generate_spec(inp: SpecInput) -> dict[str, Any]:
    """The OCI runtime config for ``inp``; the same input always gives the same document."""
    hc = inp.host_config
    mounts = _mounts(inp)
    spec: dict[str, Any] = {"ociVersion": OCI_VERSION, "process": _process(inp)}
    spec["root"] = {"path": inp.rootfs, "readonly": True} if hc.readonly_rootfs else {"path": inp.rootfs}
    if hc.uts_mode != "host":
        spec["hostname"] = inp._hostname
        if inp.config.domainname:
            spec["domainname"] = inp.config.domainname
    spec["mounts"] = [m.to_spec() for m in mounts]
    annotations = dict(hc.annotations or {}) | dict(inp.annotations)
    if annotations:
        spec["annotations"] = dict(sorted(annotations.items()))
    spec["linux"] = _linux(inp, mounts)
    return spec
