"""The parts of an OCI runtime config (config.json / process.json) the runtime acts on.

Values are NamedTuples rather than dataclasses: this module is imported by the
lean runtime CLI, and ``dataclasses`` alone costs more import time than the
whole rest of it.
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple

from dockyard.errors import InvalidArgument
from dockyard.runtime.hooks import Hooks, parse_hooks
from dockyard.runtime.seccomp import Seccomp, parse_seccomp
from dockyard.runtime.sysctls import check_sysctls

__all__ = [
    "NAMESPACE_TYPES",
    "Capabilities",
    "Device",
    "Namespace",
    "Process",
    "Resources",
    "Rlimit",
    "Spec",
    "SpecMount",
    "User",
    "host_id",
    "load_process",
    "load_spec",
    "parse_process",
    "parse_resources",
    "parse_spec",
]

NAMESPACE_TYPES = ("pid", "network", "mount", "ipc", "uts", "user", "cgroup", "time")


class User(NamedTuple):
    uid: int = 0
    gid: int = 0
    additional_gids: tuple[int, ...] = ()
    umask: int | None = None


class Rlimit(NamedTuple):
    type: str
    soft: int
    hard: int


class Capabilities(NamedTuple):
    bounding: tuple[str, ...] = ()
    effective: tuple[str, ...] = ()
    permitted: tuple[str, ...] = ()
    inheritable: tuple[str, ...] = ()
    ambient: tuple[str, ...] = ()


class Process(NamedTuple):
    args: tuple[str, ...]
    env: tuple[str, ...] = ()
    cwd: str = "/"
    user: User = User()
    terminal: bool = False
    console_size: tuple[int, int] | None = None  # (height, width)
    capabilities: Capabilities | None = None
    rlimits: tuple[Rlimit, ...] = ()
    no_new_privileges: bool = False
    oom_score_adj: int | None = None
    apparmor_profile: str = ""


class Device(NamedTuple):
    """A device node to create in the container's /dev (``linux.devices[]``)."""

    path: str
    major: int
    minor: int
    mode: int = 0o666
    type: str = "c"  # c/u, b or p
    uid: int | None = None
    gid: int | None = None


class SpecMount(NamedTuple):
    destination: str
    type: str = ""
    source: str = ""
    options: tuple[str, ...] = ()


class Namespace(NamedTuple):
    type: str
    path: str = ""


class Resources(NamedTuple):
    memory_limit: int | None = None
    memory_swap: int | None = None
    pids_limit: int | None = None
    cpu_shares: int | None = None
    cpu_quota: int | None = None
    cpu_period: int | None = None
    cpuset_cpus: str = ""
    cpuset_mems: str = ""
    devices: tuple[tuple[bool, str, int | None, int | None, str], ...] = ()  # (allow, type, major, minor, access)
    memory_reservation: int | None = None
    memory_swappiness: int | None = None
    disable_oom_killer: bool | None = None
    blkio_weight: int | None = None
    blkio_weight_device: tuple[tuple[int, int, int], ...] = ()  # (major, minor, weight)
    # (major, minor, rate) per throttle file: read bps, write bps, read iops, write iops
    blkio_throttle: tuple[tuple[str, tuple[tuple[int, int, int], ...]], ...] = ()
    hugepage_limits: tuple[tuple[str, int], ...] = ()  # (page size such as "2MB", limit in bytes)


BLKIO_THROTTLE_KEYS = (
    ("throttleReadBpsDevice", "read_bps_device"),
    ("throttleWriteBpsDevice", "write_bps_device"),
    ("throttleReadIOPSDevice", "read_iops_device"),
    ("throttleWriteIOPSDevice", "write_iops_device"),
)


class Spec(NamedTuple):
    oci_version: str
    root_path: str
    root_readonly: bool
    process: Process | None
    hostname: str = ""
    domainname: str = ""
    mounts: tuple[SpecMount, ...] = ()
    namespaces: tuple[Namespace, ...] = ()
    cgroups_path: str = ""
    resources: Resources = Resources()
    sysctl: tuple[tuple[str, str], ...] = ()
    masked_paths: tuple[str, ...] = ()
    readonly_paths: tuple[str, ...] = ()
    rootfs_propagation: str = ""
    uid_mappings: tuple[tuple[int, int, int], ...] = ()
    gid_mappings: tuple[tuple[int, int, int], ...] = ()
    annotations: tuple[tuple[str, str], ...] = ()
    seccomp: Seccomp | None = None
    devices: tuple[Device, ...] = ()
    hooks: Hooks = Hooks()

    def namespace(self, kind: str) -> Namespace | None:
        """The entry for namespace ``kind``, or None when the container shares the host's."""
        for ns in self.namespaces:
            if ns.type == kind:
                return ns
        return None


def _obj(doc: Any, where: str) -> dict[str, Any]:
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise InvalidArgument(f"{where}: expected an object")
    return doc


def _strs(doc: Any, where: str) -> tuple[str, ...]:
    if doc is None:
        return ()
    if not isinstance(doc, list) or not all(isinstance(x, str) for x in doc):
        raise InvalidArgument(f"{where}: expected a list of strings")
    return tuple(doc)


def _int(doc: Any, where: str) -> int | None:
    if doc is None:
        return None
    if isinstance(doc, bool) or not isinstance(doc, int):
        raise InvalidArgument(f"{where}: expected an integer")
    return doc


def _mappings(doc: Any, where: str) -> tuple[tuple[int, int, int], ...]:
    out = []
    for m in doc or ():
        m = _obj(m, where)
        out.append((int(m.get("containerID", 0)), int(m.get("hostID", 0)), int(m.get("size", 0))))
    return tuple(out)


def parse_process(doc: Any) -> Process:
    """Validate a ``process`` object (also the whole of ``exec --process`` files)."""
    p = _obj(doc, "process")
    args = _strs(p.get("args"), "process.args")
    if not args:
        raise InvalidArgument("process.args must not be empty")
    u = _obj(p.get("user"), "process.user")
    user = User(
        uid=_int(u.get("uid"), "process.user.uid") or 0,
        gid=_int(u.get("gid"), "process.user.gid") or 0,
        additional_gids=tuple(int(g) for g in u.get("additionalGids") or ()),
        umask=_int(u.get("umask"), "process.user.umask"),
    )
    caps = None
    if p.get("capabilities") is not None:
        c = _obj(p["capabilities"], "process.capabilities")
        caps = Capabilities(
            bounding=_strs(c.get("bounding"), "capabilities.bounding"),
            effective=_strs(c.get("effective"), "capabilities.effective"),
            permitted=_strs(c.get("permitted"), "capabilities.permitted"),
            inheritable=_strs(c.get("inheritable"), "capabilities.inheritable"),
            ambient=_strs(c.get("ambient"), "capabilities.ambient"),
        )
    rlimits = []
    for r in p.get("rlimits") or ():
        r = _obj(r, "process.rlimits[]")
        if not isinstance(r.get("type"), str):
            raise InvalidArgument("process.rlimits[].type must be a string")
        rlimits.append(Rlimit(r["type"], int(r.get("soft", 0)), int(r.get("hard", 0))))
    size = None
    if p.get("consoleSize"):
        cs = _obj(p["consoleSize"], "process.consoleSize")
        size = (int(cs.get("height", 0)), int(cs.get("width", 0)))
    apparmor = p.get("apparmorProfile") or ""
    if not isinstance(apparmor, str):
        raise InvalidArgument("process.apparmorProfile must be a string")
    cwd = p.get("cwd") or "/"
    if not isinstance(cwd, str) or not cwd.startswith("/"):
        raise InvalidArgument("process.cwd must be an absolute path")
    return Process(
        args=args,
        env=_strs(p.get("env"), "process.env"),
        cwd=cwd,
        user=user,
        terminal=bool(p.get("terminal", False)),
        console_size=size,
        capabilities=caps,
        rlimits=tuple(rlimits),
        no_new_privileges=bool(p.get("noNewPrivileges", False)),
        oom_score_adj=_int(p.get("oomScoreAdj"), "process.oomScoreAdj"),
        apparmor_profile=apparmor,
    )


def parse_resources(doc: Any) -> Resources:
    """A ``linux.resources`` object (also what ``update --resources`` reads)."""
    return _resources(doc)


def _resources(doc: Any) -> Resources:
    r = _obj(doc, "linux.resources")
    mem = _obj(r.get("memory"), "linux.resources.memory")
    cpu = _obj(r.get("cpu"), "linux.resources.cpu")
    pids = _obj(r.get("pids"), "linux.resources.pids")
    devices = []
    for d in r.get("devices") or ():
        d = _obj(d, "linux.resources.devices[]")
        devices.append(
            (
                bool(d.get("allow", False)),
                str(d.get("type") or "a"),
                _int(d.get("major"), "device.major"),
                _int(d.get("minor"), "device.minor"),
                str(d.get("access") or "rwm"),
            )
        )
    blkio = _obj(r.get("blockIO"), "linux.resources.blockIO")
    weight_devices = tuple(
        (_int(w.get("major"), "major") or 0, _int(w.get("minor"), "minor") or 0, _int(w.get("weight"), "weight") or 0)
        for w in (_obj(x, "blockIO.weightDevice[]") for x in blkio.get("weightDevice") or ())
    )
    throttle = []
    for key, name in BLKIO_THROTTLE_KEYS:
        rates = tuple(
            (_int(t.get("major"), "major") or 0, _int(t.get("minor"), "minor") or 0, _int(t.get("rate"), "rate") or 0)
            for t in (_obj(x, f"blockIO.{key}[]") for x in blkio.get(key) or ())
        )
        if rates:
            throttle.append((name, rates))
    hugepages = tuple(
        (str(h.get("pageSize") or ""), _int(h.get("limit"), "hugepageLimits.limit") or 0)
        for h in (_obj(x, "linux.resources.hugepageLimits[]") for x in r.get("hugepageLimits") or ())
    )
    oom = mem.get("disableOOMKiller")
    return Resources(
        memory_reservation=_int(mem.get("reservation"), "memory.reservation"),
        memory_swappiness=_int(mem.get("swappiness"), "memory.swappiness"),
        disable_oom_killer=None if oom is None else bool(oom),
        blkio_weight=_int(blkio.get("weight"), "blockIO.weight"),
        blkio_weight_device=weight_devices,
        blkio_throttle=tuple(throttle),
        hugepage_limits=hugepages,
        memory_limit=_int(mem.get("limit"), "memory.limit"),
        memory_swap=_int(mem.get("swap"), "memory.swap"),
        pids_limit=_int(pids.get("limit"), "pids.limit"),
        cpu_shares=_int(cpu.get("shares"), "cpu.shares"),
        cpu_quota=_int(cpu.get("quota"), "cpu.quota"),
        cpu_period=_int(cpu.get("period"), "cpu.period"),
        cpuset_cpus=str(cpu.get("cpus") or ""),
        cpuset_mems=str(cpu.get("mems") or ""),
        devices=tuple(devices),
    )


def _devices(doc: Any) -> tuple[Device, ...]:
    out = []
    for d in doc or ():
        d = _obj(d, "linux.devices[]")
        path, kind = d.get("path"), d.get("type")
        if not isinstance(path, str) or not path.startswith("/dev/"):
            raise InvalidArgument(f"device path {path!r} must be below /dev")
        if kind not in ("c", "u", "b", "p"):
            raise InvalidArgument(f"device {path}: invalid type {kind!r}")
        mode = _int(d.get("fileMode"), "device.fileMode")
        out.append(
            Device(
                path=path,
                major=_int(d.get("major"), "device.major") or 0,
                minor=_int(d.get("minor"), "device.minor") or 0,
                mode=0o666 if mode is None else mode & 0o7777,
                type=kind,
                uid=_int(d.get("uid"), "device.uid"),
                gid=_int(d.get("gid"), "device.gid"),
            )
        )
    return tuple(out)


def parse_spec(doc: Any) -> Spec:
    """Validate a whole config.json document into a :class:`Spec`."""
    d = _obj(doc, "config")
    root = _obj(d.get("root"), "root")
    if not isinstance(root.get("path"), str) or not root["path"]:
        raise InvalidArgument("root.path is required")
    linux = _obj(d.get("linux"), "linux")
    mounts = []
    for m in d.get("mounts") or ():
        m = _obj(m, "mounts[]")
        dest = m.get("destination")
        if not isinstance(dest, str) or not dest.startswith("/"):
            raise InvalidArgument(f"mount destination {dest!r} must be an absolute path")
        mounts.append(
            SpecMount(dest, str(m.get("type") or ""), str(m.get("source") or ""), _strs(m.get("options"), "options"))
        )
    namespaces = []
    seen = set()
    for n in linux.get("namespaces") or ():
        n = _obj(n, "linux.namespaces[]")
        kind = n.get("type")
        if kind not in NAMESPACE_TYPES:
            raise InvalidArgument(f"unknown namespace type {kind!r}")
        if kind in seen:
            raise InvalidArgument(f"namespace {kind!r} listed twice")
        seen.add(kind)
        namespaces.append(Namespace(kind, str(n.get("path") or "")))
    sysctl = _obj(linux.get("sysctl"), "linux.sysctl")
    check_sysctls(sysctl, (n.type for n in namespaces))
    annotations = _obj(d.get("annotations"), "annotations")
    process = parse_process(d["process"]) if d.get("process") is not None else None
    return Spec(
        oci_version=str(d.get("ociVersion") or "1.0.2"),
        root_path=root["path"],
        root_readonly=bool(root.get("readonly", False)),
        process=process,
        hostname=str(d.get("hostname") or ""),
        domainname=str(d.get("domainname") or ""),
        mounts=tuple(mounts),
        namespaces=tuple(namespaces),
        cgroups_path=str(linux.get("cgroupsPath") or ""),
        resources=_resources(linux.get("resources")),
        sysctl=tuple((str(k), str(v)) for k, v in sysctl.items()),
        masked_paths=_strs(linux.get("maskedPaths"), "linux.maskedPaths"),
        readonly_paths=_strs(linux.get("readonlyPaths"), "linux.readonlyPaths"),
        rootfs_propagation=str(linux.get("rootfsPropagation") or ""),
        uid_mappings=_mappings(linux.get("uidMappings"), "linux.uidMappings"),
        gid_mappings=_mappings(linux.get("gidMappings"), "linux.gidMappings"),
        annotations=tuple((str(k), str(v)) for k, v in annotations.items()),
        seccomp=parse_seccomp(linux.get("seccomp")),
        devices=_devices(linux.get("devices")),
        hooks=parse_hooks(d.get("hooks")),
    )


def host_id(maps: tuple[tuple[int, int, int], ...], inside: int) -> int:
    """The host id a user namespace's ``inside`` id maps to, from (containerID, hostID, size) triples."""
    for start, outside, size in maps:
        if start <= inside < start + size:
            return outside + inside - start
    raise InvalidArgument(f"id {inside} is not mapped into the user namespace")


def _load_json(path: str) -> Any:
    try:
        with open(path, "rb") as f:
            return json.load(f)
    except FileNotFoundError:
        raise InvalidArgument(f"{path}: no such file") from None
    except ValueError as e:
        raise InvalidArgument(f"{path}: invalid JSON: {e}") from None


def load_spec(bundle: str) -> Spec:
    """Read ``<bundle>/config.json``."""
    return parse_spec(_load_json(bundle.rstrip("/") + "/config.json"))


def load_process(path: str) -> Process:
    """Read an ``exec --process`` file."""
    return parse_process(_load_json(path))
