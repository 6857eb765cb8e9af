"""Container cgroups on v1 hierarchies or the v2 unified tree: create, join, limit, freeze, remove."""

from __future__ import annotations

import errno
import os
import time
from typing import Protocol

from dockyard.errors import Conflict, Unavailable
from dockyard.runtime.devices import DEFAULT_DEVICE_RULES, device_cgroup_rules
from dockyard.runtime.mountinfo import CgroupLayout, cgroup_layout, parse_mountinfo
from dockyard.runtime.spec import Resources

__all__ = [
    "CgroupManager",
    "V1Cgroups",
    "V2Cgroups",
    "cgroup_relpath",
    "detect_layout",
    "manager_for",
    "manager_from_paths",
]

_WAIT = 5.0  # seconds: the most we wait for a freeze or for a cgroup to empty


class CgroupManager(Protocol):
    """One container's cgroup(s). ``paths`` is what the state file stores to rebuild it."""

    @property
    def paths(self) -> dict[str, str]: ...

    def create(self, resources: Resources) -> None:
        """Make the directories and apply limits."""

    def apply(self, resources: Resources) -> None:
        """Change limits of an existing cgroup (``update``); fields left None stay as they are."""

    def join(self, pid: int) -> None:
        """Move ``pid`` (0: the caller) into the cgroup(s)."""

    def pids(self) -> list[int]: ...

    def freeze(self) -> None: ...

    def thaw(self) -> None: ...

    def frozen(self) -> bool: ...

    def destroy(self) -> None:
        """Remove the container's directories (its processes must be gone)."""


def _write(path: str, value: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()


def _mkdir(path: str) -> None:
    """mkdir with mode 0755 whatever the umask: a user namespace's root must reach its cgroup to bind it."""
    os.mkdir(path)
    os.chmod(path, 0o755)


def _mkdirs(path: str) -> None:
    parent = os.path.dirname(path)
    if not os.path.isdir(parent):
        _mkdirs(parent)
    try:
        _mkdir(path)
    except FileExistsError:
        pass


def _rmdir(path: str) -> None:
    deadline = time.monotonic() + _WAIT
    while True:
        try:
            os.rmdir(path)
            return
        except FileNotFoundError:
            return
        except OSError as e:
            if e.errno != errno.EBUSY or time.monotonic() > deadline:
                raise Conflict(f"cannot remove cgroup {path}: {e.strerror}") from None
            time.sleep(0.005)


def _optional_write(path: str, value: str) -> None:
    """Write a knob the kernel may lack (e.g. swappiness in a v1 root-less setup): a missing file is skipped."""
    try:
        _write(path, value)
    except FileNotFoundError:
        pass


def _apply_blkio_v1(path: str, r: Resources) -> None:
    # CFQ's blkio.weight, else BFQ's blkio.bfq.weight (the kernel has one of them, or neither).
    weight_file = next((f for f in ("blkio.weight", "blkio.bfq.weight") if os.path.exists(f"{path}/{f}")), "")
    if weight_file:
        if r.blkio_weight:
            _write(f"{path}/{weight_file}", str(r.blkio_weight))
        for major, minor, weight in r.blkio_weight_device:
            _write(f"{path}/{weight_file}_device", f"{major}:{minor} {weight}")
    elif r.blkio_weight or r.blkio_weight_device:
        raise Unavailable(
            "the kernel's block I/O scheduler has no weights (blkio.weight): --blkio-weight is not supported"
        )
    for name, rates in r.blkio_throttle:
        for major, minor, rate in rates:
            _write(f"{path}/blkio.throttle.{name}", f"{major}:{minor} {rate}")


def _apply_io_v2(path: str, r: Resources) -> None:
    if r.blkio_weight and os.path.exists(f"{path}/io.weight"):
        # v1 weight [10, 1000] -> v2 io.weight [1, 10000], runc's conversion
        _write(f"{path}/io.weight", f"default {1 + (r.blkio_weight - 10) * 9999 // 990}")
    keys = {
        "read_bps_device": "rbps",
        "write_bps_device": "wbps",
        "read_iops_device": "riops",
        "write_iops_device": "wiops",
    }
    for name, rates in r.blkio_throttle:
        for major, minor, rate in rates:
            _write(f"{path}/io.max", f"{major}:{minor} {keys[name]}={rate or 'max'}")


def cgroup_relpath(cgroups_path: str, container_id: str) -> str:
    """``linux.cgroupsPath`` -> a path below each hierarchy's root; systemd's "slice:prefix:name" is mapped."""
    p = cgroups_path
    if not p:
        return f"/dockyard/{container_id}"
    if ":" in p and not p.startswith("/"):
        slice_, prefix, name = [*p.split(":"), "", ""][:3]
        return f"/{slice_ or 'system.slice'}/{prefix}-{name}.scope"
    return "/" + p.strip("/")


def detect_layout() -> CgroupLayout:
    return cgroup_layout(parse_mountinfo(_read("/proc/self/mountinfo")))


class V1Cgroups:
    def __init__(self, paths: dict[str, str]) -> None:
        self._paths = paths

    @property
    def paths(self) -> dict[str, str]:
        return self._paths

    def _path(self, subsystem: str) -> str | None:
        for name, path in self._paths.items():
            if subsystem in name.split(","):
                return path
        return None

    def create(self, resources: Resources) -> None:
        for name, path in self._paths.items():
            if "cpuset" in name.split(","):
                self._make_cpuset(path)
            else:
                _mkdirs(path)
        self.apply(resources)

    @staticmethod
    def _make_cpuset(path: str) -> None:
        # A new v1 cpuset starts empty and refuses tasks: copy cpus/mems down from the parent.
        parent = os.path.dirname(path)
        if not os.path.isdir(parent):
            V1Cgroups._make_cpuset(parent)
        try:
            _mkdir(path)
        except FileExistsError:
            pass
        for f in ("cpuset.cpus", "cpuset.mems"):
            if not _read(f"{path}/{f}").strip():
                _write(f"{path}/{f}", _read(f"{parent}/{f}").strip() or "\n")

    def apply(self, r: Resources) -> None:
        mem, pids, cpu, cpuset, devices = (self._path(s) for s in ("memory", "pids", "cpu", "cpuset", "devices"))
        if mem and r.memory_limit is not None:
            _write(f"{mem}/memory.limit_in_bytes", str(r.memory_limit))
            if r.memory_swap is not None and os.path.exists(f"{mem}/memory.memsw.limit_in_bytes"):
                _write(f"{mem}/memory.memsw.limit_in_bytes", str(r.memory_swap))
        if pids and r.pids_limit is not None:
            _write(f"{pids}/pids.max", "max" if r.pids_limit <= 0 else str(r.pids_limit))
        if cpu:
            if r.cpu_shares:
                _write(f"{cpu}/cpu.shares", str(r.cpu_shares))
            if r.cpu_period:
                _write(f"{cpu}/cpu.cfs_period_us", str(r.cpu_period))
            if r.cpu_quota:
                _write(f"{cpu}/cpu.cfs_quota_us", str(r.cpu_quota))
        if cpuset:
            if r.cpuset_cpus:
                _write(f"{cpuset}/cpuset.cpus", r.cpuset_cpus)
            if r.cpuset_mems:
                _write(f"{cpuset}/cpuset.mems", r.cpuset_mems)
        if devices:
            for name, rule in device_cgroup_rules(r.devices):
                _write(f"{devices}/{name}", rule)
        if mem:
            self._apply_memory_extras(mem, r)
        blkio = self._path("blkio")
        if blkio:
            _apply_blkio_v1(blkio, r)
        hugetlb = self._path("hugetlb")
        if hugetlb:
            for size, limit in r.hugepage_limits:
                _write(f"{hugetlb}/hugetlb.{size}.limit_in_bytes", str(limit))

    @staticmethod
    def _apply_memory_extras(mem: str, r: Resources) -> None:
        if r.memory_reservation is not None:
            _write(f"{mem}/memory.soft_limit_in_bytes", str(r.memory_reservation))
        if r.memory_swappiness is not None and 0 <= r.memory_swappiness <= 100:
            _optional_write(f"{mem}/memory.swappiness", str(r.memory_swappiness))
        if r.disable_oom_killer is not None:
            _write(f"{mem}/memory.oom_control", "1" if r.disable_oom_killer else "0")

    def join(self, pid: int) -> None:
        for path in self._paths.values():
            _write(f"{path}/cgroup.procs", str(pid))

    def pids(self) -> list[int]:
        path = self._path("pids") or self._path("freezer") or next(iter(self._paths.values()), None)
        if path is None:
            return []
        try:
            return [int(x) for x in _read(f"{path}/cgroup.procs").split()]
        except FileNotFoundError:
            return []

    def _freezer(self) -> str:
        path = self._path("freezer")
        if path is None:
            raise Unavailable("the freezer cgroup is not mounted")
        return path

    def _set_freezer(self, state: str) -> None:
        path = self._freezer()
        deadline = time.monotonic() + _WAIT
        while True:
            _write(f"{path}/freezer.state", state)
            if _read(f"{path}/freezer.state").strip() == state:
                return
            if time.monotonic() > deadline:
                raise Unavailable(f"cgroup did not become {state}")
            time.sleep(0.001)

    def freeze(self) -> None:
        self._set_freezer("FROZEN")

    def thaw(self) -> None:
        self._set_freezer("THAWED")

    def frozen(self) -> bool:
        path = self._path("freezer")
        if path is None:
            return False
        try:
            return _read(f"{path}/freezer.state").strip() != "THAWED"
        except FileNotFoundError:
            return False

    def destroy(self) -> None:
        for path in self._paths.values():
            _rmdir(path)


class V2Cgroups:
    def __init__(self, path: str, mount: str = "/sys/fs/cgroup") -> None:
        self._path = path
        self._mount = mount

    @property
    def paths(self) -> dict[str, str]:
        return {"": self._path}

    def create(self, resources: Resources) -> None:
        # Enable the controllers we write in every ancestor's subtree_control.
        rel = os.path.relpath(self._path, self._mount)
        cur = self._mount
        for part in rel.split("/"):
            available = set(_read(f"{cur}/cgroup.controllers").split())
            for ctl in ("cpu", "cpuset", "memory", "pids", "io", "hugetlb"):
                if ctl in available:
                    try:
                        _write(f"{cur}/cgroup.subtree_control", f"+{ctl}")
                    except OSError:
                        pass  # e.g. the host's root cgroup has processes; limits will then not apply
            cur = f"{cur}/{part}"
            try:
                _mkdir(cur)
            except FileExistsError:
                pass
        self.apply(resources)
        if resources.devices:
            # v2 has no devices.allow: an eBPF program on the cgroup decides (only at creation: updates
            # would stack another program, and Docker's update never changes devices).
            from dockyard.runtime.bpf_devices import rules_with_defaults
            from dockyard.runtime.linux.bpf import attach_device_filter

            attach_device_filter(self._path, rules_with_defaults(resources.devices, DEFAULT_DEVICE_RULES))

    def apply(self, r: Resources) -> None:
        p = self._path
        if r.memory_limit is not None:
            _write(f"{p}/memory.max", "max" if r.memory_limit < 0 else str(r.memory_limit))
            if r.memory_swap is not None and os.path.exists(f"{p}/memory.swap.max"):
                swap = "max" if r.memory_swap < 0 else str(max(r.memory_swap - r.memory_limit, 0))
                _write(f"{p}/memory.swap.max", swap)
        if r.pids_limit is not None:
            _write(f"{p}/pids.max", "max" if r.pids_limit <= 0 else str(r.pids_limit))
        if r.cpu_shares:
            # runc's conversion of v1 shares [2, 262144] to v2 weight [1, 10000]
            _write(f"{p}/cpu.weight", str(1 + ((r.cpu_shares - 2) * 9999) // 262142))
        if r.cpu_quota or r.cpu_period:
            quota = str(r.cpu_quota) if r.cpu_quota and r.cpu_quota > 0 else "max"
            _write(f"{p}/cpu.max", f"{quota} {r.cpu_period or 100000}")
        if r.cpuset_cpus:
            _write(f"{p}/cpuset.cpus", r.cpuset_cpus)
        if r.cpuset_mems:
            _write(f"{p}/cpuset.mems", r.cpuset_mems)
        if r.memory_reservation is not None:
            _write(f"{p}/memory.low", str(r.memory_reservation) if r.memory_reservation > 0 else "0")
        _apply_io_v2(p, r)
        for size, limit in r.hugepage_limits:
            _write(f"{p}/hugetlb.{size}.max", str(limit))

    def join(self, pid: int) -> None:
        _write(f"{self._path}/cgroup.procs", str(pid))

    def pids(self) -> list[int]:
        try:
            return [int(x) for x in _read(f"{self._path}/cgroup.procs").split()]
        except FileNotFoundError:
            return []

    def _set_frozen(self, value: bool) -> None:
        _write(f"{self._path}/cgroup.freeze", "1" if value else "0")
        deadline = time.monotonic() + _WAIT
        while self.frozen() != value:
            if time.monotonic() > deadline:
                raise Unavailable("cgroup did not change its frozen state")
            time.sleep(0.001)

    def freeze(self) -> None:
        self._set_frozen(True)

    def thaw(self) -> None:
        self._set_frozen(False)

    def frozen(self) -> bool:
        try:
            return "frozen 1" in _read(f"{self._path}/cgroup.events")
        except FileNotFoundError:
            return False

    def destroy(self) -> None:
        _rmdir(self._path)


def manager_for(layout: CgroupLayout, relpath: str) -> CgroupManager:
    if layout.unified:
        return V2Cgroups(layout.unified + relpath, layout.unified)
    return V1Cgroups({name: mp + relpath for name, mp in layout.v1})


def manager_from_paths(paths: dict[str, str]) -> CgroupManager:
    if "" in paths:
        return V2Cgroups(paths[""])
    return V1Cgroups(dict(paths))
