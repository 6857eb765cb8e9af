"""What a container's isolation needs from the host at start: seccomp, devices, namespaces, init.

The spec generator is pure; this module does the little I/O it needs: the
daemon's own capability bounding set and the host's architecture and kernel
(probed once, at daemon start), device nodes named by ``--device`` and the
Blkio* fields (stat), the namespaces of the containers named by
``--ipc/--pid container:<id>``, and where the ``--init`` binary lives.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol

from dockyard import errors
from dockyard.containers.capabilities import capabilities_from_mask, effective_capabilities
from dockyard.containers.create_request import DeviceMapping, HostConfig
from dockyard.containers.hostconfig_defaults import DEFAULT_SHM_SIZE
from dockyard.containers.security_opts import parse_security_opts
from dockyard.containers.specgen import LinuxDevice
from dockyard.containers.store import ContainerRecord
from dockyard.mount.types import Mount
from dockyard.security import Profile, default_profile, parse_profile, to_oci
from dockyard.security.apparmor import AppArmor, host_enabled

__all__ = [
    "HostFacts",
    "Isolation",
    "SharedShmMounter",
    "StartIsolation",
    "block_device_numbers",
    "find_init",
    "host_devices",
    "kernel_version",
    "load_daemon_seccomp",
    "mount_shared_shm",
    "probe_host",
    "resolve_devices",
    "seccomp_for",
    "security_options",
    "shared_shm_path",
]

INIT_NAMES = ("dockyard-init", "docker-init")
# Where host devices are never taken from for --privileged (Docker's devices.HostDevices skips these).
_SKIP_DEV_DIRS = ("/dev/pts", "/dev/shm", "/dev/mqueue", "/dev/.lxc", "/dev/.udev")


@dataclass(frozen=True)
class HostFacts:
    """What the daemon's host offers, probed once."""

    capabilities: frozenset[str]
    machine: str
    kernel: tuple[int, int]
    seccomp: bool
    init_path: str = ""
    apparmor: bool = False


def _status_field(name: str) -> str:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(name + ":"):
                return line.split(":", 1)[1].strip()
    return ""


def kernel_version(release: str) -> tuple[int, int]:
    """``uname -r`` -> (major, minor); (0, 0) when it can't be read."""
    m = re.match(r"(\d+)\.(\d+)", release)
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


def find_init(configured: str = "") -> str:
    """The init binary for ``--init``: the configured one, else dockyard-init (or docker-init) on PATH."""
    if configured:
        if not os.access(configured, os.X_OK):
            raise errors.InvalidArgument(f"init-path {configured!r} is not an executable file")
        return configured
    for name in INIT_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return ""


def probe_host(init_path: str = "") -> HostFacts:
    uname = os.uname()
    return HostFacts(
        capabilities=capabilities_from_mask(int(_status_field("CapBnd") or "0", 16)),
        machine=uname.machine,
        kernel=kernel_version(uname.release),
        seccomp=os.path.exists("/proc/self/status") and _status_field("Seccomp") != "",
        init_path=find_init(init_path),
        apparmor=host_enabled(),
    )


def load_daemon_seccomp(setting: str = "") -> Profile | None:
    """The daemon's default profile: Docker's (``""``/``builtin``), none (``unconfined``) or a profile file."""
    if setting in ("", "builtin"):
        return parse_profile(default_profile())
    if setting == "unconfined":
        return None
    try:
        with open(setting, "rb") as f:
            return parse_profile(f.read())
    except OSError as e:
        raise errors.InvalidArgument(f"seccomp-profile {setting!r}: {e.strerror}") from None


def security_options(host: HostFacts, seccomp_setting: str, remapped: bool, cgroup_version: str) -> list[str]:
    """``/info`` SecurityOptions, in dockerd's spelling."""
    out = ["name=apparmor"] if host.apparmor else []
    if host.seccomp:
        profile = "builtin" if seccomp_setting in ("", "builtin") else seccomp_setting
        out.append(f"name=seccomp,profile={profile}")
    if remapped:
        out.append("name=userns")
    if cgroup_version == "2":
        out.append("name=cgroupns")
    return out


def seccomp_for(
    hc: HostConfig, capabilities: frozenset[str], host: HostFacts, default: Profile | None
) -> dict[str, Any] | None:
    """``linux.seccomp`` for a container: none when privileged or unconfined, else its profile resolved."""
    opts = parse_security_opts(hc.security_opt or ())
    if hc.privileged or opts.seccomp_profile == "unconfined":
        return None
    custom = opts.seccomp_profile not in ("", "builtin")
    if not custom and default is None:
        return None
    if not host.seccomp:
        if custom:
            raise errors.InvalidArgument("seccomp profile requested but the kernel does not support seccomp")
        return None
    profile = parse_profile(opts.seccomp_profile) if custom or default is None else default
    return to_oci(profile, capabilities, machine=host.machine, kernel=host.kernel)


def _device(host_path: str, container_path: str, permissions: str) -> LinuxDevice | None:
    st = os.stat(host_path)
    if stat.S_ISCHR(st.st_mode):
        kind = "c"
    elif stat.S_ISBLK(st.st_mode):
        kind = "b"
    else:
        return None
    return LinuxDevice(
        path=container_path,
        type=kind,
        major=os.major(st.st_rdev),
        minor=os.minor(st.st_rdev),
        file_mode=stat.S_IMODE(st.st_mode),
        uid=st.st_uid,
        gid=st.st_gid,
        permissions=permissions or "rwm",
    )


def _walk_devices(root: str) -> Iterator[str]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if os.path.join(dirpath, d) not in _SKIP_DEV_DIRS]
        for name in sorted(filenames):
            yield os.path.join(dirpath, name)


def resolve_devices(mappings: tuple[DeviceMapping, ...]) -> tuple[LinuxDevice, ...]:
    """``--device`` entries -> device nodes (a directory maps every device below it, as in Docker)."""
    out: list[LinuxDevice] = []
    for m in mappings:
        target = m.path_in_container or m.path_on_host
        try:
            if os.path.isdir(m.path_on_host):
                for path in _walk_devices(m.path_on_host):
                    dev = _device(
                        path, os.path.join(target, os.path.relpath(path, m.path_on_host)), m.cgroup_permissions
                    )
                    if dev is not None:
                        out.append(dev)
                continue
            dev = _device(m.path_on_host, target, m.cgroup_permissions)
        except OSError as e:
            raise errors.InvalidArgument(
                f"error gathering device information while adding custom device {m.path_on_host!r}: {e.strerror}"
            ) from None
        if dev is None:
            raise errors.InvalidArgument(
                f"error gathering device information while adding custom device {m.path_on_host!r}: not a device node"
            )
        out.append(dev)
    return tuple(out)


def host_devices(root: str = "/dev") -> tuple[LinuxDevice, ...]:
    """Every device node of the host, for ``--privileged`` (the runtime creates them in the container's /dev)."""
    out = []
    for path in _walk_devices(root):
        if path == "/dev/console" or path == "/dev/ptmx":
            continue  # the runtime provides the container's own
        try:
            dev = _device(path, path, "rwm")
        except OSError:
            continue  # gone meanwhile, or a dangling entry
        if dev is not None:
            out.append(dev)
    return tuple(out)


def block_device_numbers(hc: HostConfig) -> dict[str, tuple[int, int]]:
    """Host paths named by ``--blkio-weight-device``/``--device-read-bps``... -> (major, minor)."""
    r = hc.resources
    paths = [w.path for w in r.blkio_weight_device or ()]
    for items in (
        r.blkio_device_read_bps,
        r.blkio_device_write_bps,
        r.blkio_device_read_iops,
        r.blkio_device_write_iops,
    ):
        paths += [t.path for t in items or ()]
    out: dict[str, tuple[int, int]] = {}
    for path in paths:
        try:
            st = os.stat(path)
        except OSError as e:
            raise errors.InvalidArgument(f"{path}: {e.strerror}") from None
        if not stat.S_ISBLK(st.st_mode):
            raise errors.InvalidArgument(f"{path} is not a block device")
        out[path] = (os.major(st.st_rdev), os.minor(st.st_rdev))
    return out


@dataclass(frozen=True)
class StartIsolation:
    """The host-dependent parts of a container's spec (what ``SpecInput`` takes besides the request)."""

    seccomp: Mapping[str, Any] | None = None
    devices: tuple[LinuxDevice, ...] = ()
    block_devices: Mapping[str, tuple[int, int]] = field(default_factory=lambda: MappingProxyType({}))
    ipc_ns_path: str = ""
    pid_ns_path: str = ""
    extra_mounts: tuple[Mount, ...] = ()
    init_path: str = ""
    available_capabilities: frozenset[str] | None = None
    uid_mappings: tuple[tuple[int, int, int], ...] = ()
    gid_mappings: tuple[tuple[int, int, int], ...] = ()
    apparmor_profile: str = ""


ContainerLookup = Callable[[str], ContainerRecord]
_SHM_DIR = "shm"


def shared_shm_path(bundle: str) -> str:
    """Where a shareable container's /dev/shm tmpfs is mounted on the host: beside its rootfs."""
    return os.path.join(bundle, _SHM_DIR)


def mount_shared_shm(rootfs: str, size: int) -> str:
    """Mount a shareable container's /dev/shm tmpfs on the host (idempotent across restarts).

    Not inside the rootfs: the container's own /dev tmpfs would hide it from the
    runtime's bind. :class:`SharedShmMounter` unmounts it with the rootfs.
    """
    from dockyard.mount.linux import mount

    path = shared_shm_path(os.path.dirname(rootfs.rstrip("/")))
    os.makedirs(path, mode=0o700, exist_ok=True)
    if not os.path.ismount(path):
        opts = ("nosuid", "nodev", "noexec", "mode=1777", f"size={size or DEFAULT_SHM_SIZE}")
        mount(Mount("tmpfs", "shm", opts, path))
    return path


class RootfsMounter(Protocol):
    def mount(self, mounts: Sequence[Mount], target: str) -> None: ...

    def unmount(self, target: str) -> None: ...

    def is_mounted(self, target: str) -> bool: ...


class SharedShmMounter:
    """A rootfs mounter whose unmount also releases the container's shared /dev/shm, if it has one.

    Every path that ends a container's run (exit, removal, orphan cleanup) unmounts
    its rootfs; the shm tmpfs goes with it, so it lives exactly as long as the run.
    """

    def __init__(self, inner: RootfsMounter) -> None:
        self._inner = inner

    def mount(self, mounts: Sequence[Mount], target: str) -> None:
        self._inner.mount(mounts, target)

    def unmount(self, target: str) -> None:
        shm = shared_shm_path(os.path.dirname(target.rstrip("/")))
        if os.path.ismount(shm):
            from dockyard.mount.linux import unmount_all

            unmount_all(shm)
        self._inner.unmount(target)

    def is_mounted(self, target: str) -> bool:
        return self._inner.is_mounted(target)


class Isolation:
    """Resolves :class:`StartIsolation` for a container about to start.

    ``seccomp_default`` is the profile of containers that name none (see
    :func:`load_daemon_seccomp`; None: unconfined). ``lookup`` finds another
    container by name or id (``ContainerService.get``) for ``container:<id>``
    IPC and PID modes. ``apparmor`` chooses and loads profiles (default: the
    real host's, enabled as ``host.apparmor`` says).
    """

    def __init__(
        self,
        host: HostFacts,
        lookup: ContainerLookup | None = None,
        seccomp_default: Profile | None = None,
        remap: tuple[tuple[tuple[int, int, int], ...], tuple[tuple[int, int, int], ...]] | None = None,
        *,
        apparmor: AppArmor | None = None,
    ) -> None:
        self.host = host
        self._lookup = lookup
        self._default = seccomp_default
        self._remap = remap  # (uid mappings, gid mappings) of userns-remap
        self.apparmor = apparmor if apparmor is not None else AppArmor(enabled=host.apparmor)

    def _running_pid(self, ref: str, what: str) -> tuple[ContainerRecord, int]:
        if self._lookup is None:
            raise errors.NotImplementedYet(f"joining the {what} namespace of another container is not supported here")
        rec = self._lookup(ref)
        if not rec.state.running or rec.state.pid <= 0:
            raise errors.Conflict(f"cannot join {what} of a non running container: {ref}")
        return rec, rec.state.pid

    def check_create(self, hc: HostConfig) -> None:
        """What a remapped root cannot have, refused at create as Docker does (``--userns=host`` lifts it)."""
        if self._remap is None or hc.userns_mode == "host":
            return
        if hc.privileged:
            raise errors.InvalidArgument(
                "privileged mode is incompatible with user namespaces (userns-remap): "
                "run the container with --userns=host"
            )
        if hc.network_mode == "host":
            raise errors.InvalidArgument("cannot share the host's network namespace when user namespaces are enabled")
        if hc.pid_mode == "host":
            raise errors.InvalidArgument("cannot share the host PID namespace when user namespaces are enabled")

    def for_start(self, hc: HostConfig, rootfs: str = "") -> StartIsolation:
        """What ``hc`` needs; ``rootfs`` is where the container's root is mounted on the host (for shared shm)."""
        caps = (
            frozenset(effective_capabilities(hc.cap_add, hc.cap_drop, privileged=hc.privileged))
            & self.host.capabilities
        )
        ipc_path = pid_path = ""
        mounts: list[Mount] = []
        if hc.ipc_mode.startswith("container:"):
            donor, pid = self._running_pid(hc.ipc_mode.partition(":")[2], "IPC")
            donor_mode = str(donor.host_config.get("IpcMode") or "")
            if donor_mode not in ("shareable", "host") and not donor_mode.startswith("container:"):
                raise errors.Conflict(
                    f"non-shareable IPC (hint: use IpcMode:shareable for the donor container {donor.id[:12]})"
                )
            ipc_path = f"/proc/{pid}/ns/ipc"
            # POSIX shm lives in /dev/shm files, not in the namespace: share the donor's tmpfs too.
            mounts.append(Mount("bind", shared_shm_path(donor.bundle), ("rbind", "rprivate"), "/dev/shm"))
        elif hc.ipc_mode == "shareable" and rootfs:
            mounts.append(Mount("bind", mount_shared_shm(rootfs, hc.shm_size), ("rbind", "rprivate"), "/dev/shm"))
        elif hc.ipc_mode == "host":
            mounts.append(Mount("bind", "/dev/shm", ("rbind", "rprivate"), "/dev/shm"))
        if hc.pid_mode.startswith("container:"):
            _, pid = self._running_pid(hc.pid_mode.partition(":")[2], "PID namespace")
            pid_path = f"/proc/{pid}/ns/pid"
        devices = resolve_devices(hc.resources.devices or ())
        if hc.privileged:
            explicit = {d.path for d in devices}
            devices = tuple(d for d in host_devices() if d.path not in explicit) + devices
        uid_maps: tuple[tuple[int, int, int], ...] = ()
        gid_maps: tuple[tuple[int, int, int], ...] = ()
        self.check_create(hc)  # the daemon may have been restarted with a remap since the create
        if self._remap is not None and hc.userns_mode != "host":
            uid_maps, gid_maps = self._remap
        if hc.init and not self.host.init_path:
            raise errors.InvalidArgument("--init: no init binary found (install dockyard-init or set init-path)")
        return StartIsolation(
            seccomp=seccomp_for(hc, caps, self.host, self._default),
            devices=devices,
            block_devices=MappingProxyType(block_device_numbers(hc)),
            ipc_ns_path=ipc_path,
            pid_ns_path=pid_path,
            extra_mounts=tuple(mounts),
            init_path=self.host.init_path if hc.init else "",
            available_capabilities=self.host.capabilities,
            uid_mappings=uid_maps,
            gid_mappings=gid_maps,
            apparmor_profile=self.apparmor.for_start(
                parse_security_opts(hc.security_opt or ()).apparmor_profile, hc.privileged
            ),
        )
