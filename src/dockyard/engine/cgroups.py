"""A running container's cgroup as the engine sees it: control files to read (stats, top),
the freezer (pause) and live limit changes (update).

The seam is :class:`CgroupFiles`: one container's control files addressed by name
(``"memory.stat"``, ``"cpu.max"``, ``"cgroup.procs"``). On cgroup v1 the name's prefix
picks the hierarchy (``memory.*`` lives under the memory mount); on v2 every file is in
the one unified directory. Everything else here is written against that Protocol, so
unit tests use an in-memory fake. The runtime owns creating and removing the cgroup.
"""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from dockyard import errors

__all__ = [
    "UNLIMITED_V1",
    "CgroupFiles",
    "Hierarchies",
    "KernelCgroupFiles",
    "ResourceUpdate",
    "apply_update",
    "freeze",
    "hierarchies_from_mountinfo",
    "is_frozen",
    "limit_writes",
    "open_cgroup",
    "procs",
    "thaw",
    "v2_weight_from_shares",
]

UNLIMITED_V1 = 9223372036854771712  # what v1 memory files report for "no limit" (LONG_MAX page-aligned)


class CgroupFiles(Protocol):
    """One container's cgroup control files.

    ``read`` gives a file's text, or None when it does not exist (controller not
    mounted, cgroup already gone). ``write`` raises NotFound when the file does not
    exist and InvalidArgument when the kernel refuses the value.
    """

    @property
    def version(self) -> int: ...

    def read(self, name: str) -> str | None: ...

    def write(self, name: str, value: str) -> None: ...


@dataclass(frozen=True)
class Hierarchies:
    """Where cgroups are mounted: ``unified`` for a pure v2 host, else v1 controller -> mount point."""

    unified: str = ""
    v1: Mapping[str, str] | None = None

    @property
    def version(self) -> int:
        return 2 if self.unified else 1


_MOUNT_OPTS = {"rw", "ro", "relatime", "noatime", "nosuid", "nodev", "noexec", "clone_children", "xattr"}


def hierarchies_from_mountinfo(text: str, root: str = "/sys/fs/cgroup") -> Hierarchies:
    """The cgroup mounts of ``/proc/self/mountinfo`` (only those showing a hierarchy's root,
    as the runtime uses); a cgroup2 mount at ``root`` means a pure v2 host."""
    v1: dict[str, str] = {}
    unified = ""
    for line in text.splitlines():
        left, sep, right = line.partition(" - ")
        if not sep:
            continue
        fields, tail = left.split(), right.split()
        if len(fields) < 5 or len(tail) < 3:
            continue
        mount_root, mount_point = fields[3], fields[4].replace("\\040", " ")
        fstype, super_opts = tail[0], tail[2]
        if fstype == "cgroup2" and mount_point == root:
            unified = mount_point
        elif fstype == "cgroup" and mount_root == "/":
            for opt in super_opts.split(","):
                if opt and opt not in _MOUNT_OPTS and "=" not in opt:
                    v1.setdefault(opt, mount_point)
    if unified:
        return Hierarchies(unified=unified)
    return Hierarchies(v1=v1)


def _controller(name: str) -> str:
    return name.partition(".")[0]


class KernelCgroupFiles:
    """:class:`CgroupFiles` on the real cgroup filesystems for one cgroup path (``/dockyard/<id>``)."""

    def __init__(self, hierarchies: Hierarchies, path: str) -> None:
        self._h = hierarchies
        self._path = "/" + path.strip("/")

    @property
    def version(self) -> int:
        return self._h.version

    def file_path(self, name: str) -> str | None:
        if self._h.unified:
            return os.path.join(self._h.unified + self._path, name)
        v1 = self._h.v1 or {}
        ctl = _controller(name)
        if ctl == "cgroup" or ctl == "tasks":  # core files exist in every hierarchy
            ctl = next((c for c in ("pids", "freezer", "memory", "cpu") if c in v1), "")
        mount = v1.get(ctl)
        return os.path.join(mount + self._path, name) if mount else None

    def read(self, name: str) -> str | None:
        path = self.file_path(name)
        if path is None:
            return None
        try:
            with open(path, encoding="ascii", errors="replace") as f:
                return f.read()
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as e:
            if e.errno in (errno.ENODEV, errno.EOPNOTSUPP, errno.EINVAL):
                return None  # e.g. a stat file of a controller not enabled here
            raise

    def write(self, name: str, value: str) -> None:
        path = self.file_path(name)
        if path is None:
            raise errors.NotFound(f"cgroup file {name} is not available on this host")
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            raise errors.NotFound(f"cgroup file {name} is not available") from None
        try:
            os.write(fd, value.encode())
        except OSError as e:
            if e.errno in (errno.EINVAL, errno.EBUSY, errno.ERANGE):
                raise errors.InvalidArgument(f"cannot set {name} to {value}: {e.strerror}") from None
            raise
        finally:
            os.close(fd)


def open_cgroup(path: str, mountinfo: str | None = None) -> KernelCgroupFiles:
    """The control files of the cgroup at ``path`` below each hierarchy's root."""
    if mountinfo is None:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as f:
            mountinfo = f.read()
    return KernelCgroupFiles(hierarchies_from_mountinfo(mountinfo), path)


# --- processes and the freezer -------------------------------------------------------


def procs(files: CgroupFiles) -> list[int]:
    """The processes (thread group leaders) in the cgroup."""
    text = files.read("cgroup.procs") or ""
    return sorted({int(x) for x in text.split() if x.isdigit()})


def is_frozen(files: CgroupFiles) -> bool:
    if files.version == 2:
        events = files.read("cgroup.events") or ""
        return any(line.split() == ["frozen", "1"] for line in events.splitlines())
    return (files.read("freezer.state") or "THAWED").strip() != "THAWED"


def _set_frozen(
    files: CgroupFiles, frozen: bool, timeout: float, sleep: Callable[[float], None], clock: Callable[[], float]
) -> None:
    if files.version == 2:
        files.write("cgroup.freeze", "1" if frozen else "0")

        def done() -> bool:
            return is_frozen(files) == frozen
    else:
        want = "FROZEN" if frozen else "THAWED"
        files.write("freezer.state", want)

        def done() -> bool:
            # v1 reports FREEZING until every task has stopped; writing again retries stragglers
            state = (files.read("freezer.state") or "").strip()
            if state != want:
                files.write("freezer.state", want)
            return state == want

    deadline = clock() + timeout
    delay = 0.0005
    while not done():
        if clock() > deadline:
            raise errors.Unavailable(f"the container's cgroup did not become {'frozen' if frozen else 'thawed'}")
        sleep(delay)
        delay = min(delay * 2, 0.02)


def freeze(
    files: CgroupFiles,
    timeout: float = 10.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Freeze every process of the cgroup; returns once the kernel says it is frozen."""
    if files.read("freezer.state" if files.version == 1 else "cgroup.freeze") is None:
        raise errors.Unavailable("the cgroup freezer is not available for this container")
    _set_frozen(files, True, timeout, sleep, clock)


def thaw(
    files: CgroupFiles,
    timeout: float = 10.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Let the cgroup's processes run again."""
    _set_frozen(files, False, timeout, sleep, clock)


# --- live limit changes (docker update) ----------------------------------------------


@dataclass(frozen=True)
class ResourceUpdate:
    """The resources of ``POST /containers/{id}/update``; None leaves a value as it is.

    Memory values are bytes (``memory_swap`` is memory plus swap, -1 unlimited), CPU
    quota/period are microseconds, ``pids_limit`` <= 0 is unlimited.
    """

    memory: int | None = None
    memory_swap: int | None = None
    memory_reservation: int | None = None
    cpu_shares: int | None = None
    cpu_period: int | None = None
    cpu_quota: int | None = None
    cpuset_cpus: str | None = None
    cpuset_mems: str | None = None
    pids_limit: int | None = None
    blkio_weight: int | None = None

    def is_empty(self) -> bool:
        return all(getattr(self, f) is None for f in self.__dataclass_fields__)


def v2_weight_from_shares(shares: int) -> int:
    """runc's mapping of v1 ``cpu.shares`` [2, 262144] to v2 ``cpu.weight`` [1, 10000]."""
    shares = min(max(shares, 2), 262144)
    return 1 + ((shares - 2) * 9999) // 262142


def _v1_mem(value: int) -> str:
    return "-1" if value < 0 else str(value)


def limit_writes(version: int, r: ResourceUpdate, current_memsw: int | None = None) -> list[tuple[str, str]]:
    """The ``(file, value)`` writes that apply ``r``, in an order the kernel accepts.

    On v1 ``memory.memsw.limit_in_bytes`` may never be below ``memory.limit_in_bytes``:
    a growing pair is written swap first, a shrinking one memory first. ``current_memsw``
    is the v1 memsw limit now in force (None when swap accounting is off).
    """
    out: list[tuple[str, str]] = []
    if version == 2:
        if r.memory is not None:
            out.append(("memory.max", "max" if r.memory < 0 else str(r.memory)))
        if r.memory_swap is not None:
            if r.memory_swap < 0:
                out.append(("memory.swap.max", "max"))
            elif r.memory is not None and r.memory > 0:
                out.append(("memory.swap.max", str(max(r.memory_swap - r.memory, 0))))
        if r.memory_reservation is not None:
            out.append(("memory.low", "0" if r.memory_reservation <= 0 else str(r.memory_reservation)))
        if r.cpu_shares:
            out.append(("cpu.weight", str(v2_weight_from_shares(r.cpu_shares))))
        if r.cpu_quota is not None or r.cpu_period is not None:
            quota = "max" if not r.cpu_quota or r.cpu_quota < 0 else str(r.cpu_quota)
            out.append(("cpu.max", f"{quota} {r.cpu_period or 100000}"))
        if r.cpuset_cpus is not None:
            out.append(("cpuset.cpus", r.cpuset_cpus))
        if r.cpuset_mems is not None:
            out.append(("cpuset.mems", r.cpuset_mems))
        if r.pids_limit is not None:
            out.append(("pids.max", "max" if r.pids_limit <= 0 else str(r.pids_limit)))
        if r.blkio_weight:
            out.append(("io.bfq.weight", str(r.blkio_weight)))
        return out

    mem: list[tuple[str, str]] = []
    if r.memory is not None:
        mem.append(("memory.limit_in_bytes", _v1_mem(r.memory)))
    if r.memory_swap is not None and current_memsw is not None:
        swap = ("memory.memsw.limit_in_bytes", _v1_mem(r.memory_swap))
        new_swap = UNLIMITED_V1 if r.memory_swap < 0 else r.memory_swap
        # a larger swap limit must go in before the memory limit it has to cover
        if new_swap >= current_memsw:
            mem.insert(0, swap)
        else:
            mem.append(swap)
    out.extend(mem)
    if r.memory_reservation is not None:
        out.append(("memory.soft_limit_in_bytes", _v1_mem(r.memory_reservation if r.memory_reservation > 0 else -1)))
    if r.cpu_shares:
        out.append(("cpu.shares", str(r.cpu_shares)))
    if r.cpu_period:
        out.append(("cpu.cfs_period_us", str(r.cpu_period)))
    if r.cpu_quota is not None:
        out.append(("cpu.cfs_quota_us", str(r.cpu_quota) if r.cpu_quota > 0 else "-1"))
    if r.cpuset_cpus is not None:
        out.append(("cpuset.cpus", r.cpuset_cpus))
    if r.cpuset_mems is not None:
        out.append(("cpuset.mems", r.cpuset_mems))
    if r.pids_limit is not None:
        out.append(("pids.max", "max" if r.pids_limit <= 0 else str(r.pids_limit)))
    if r.blkio_weight:
        out.append(("blkio.weight", str(r.blkio_weight)))
    return out


def apply_update(files: CgroupFiles, r: ResourceUpdate) -> None:
    """Write ``r`` to a live cgroup; files this kernel lacks are skipped (no controller, no swap)."""
    memsw_text = files.read("memory.memsw.limit_in_bytes") if files.version == 1 else None
    current_memsw = int(memsw_text) if memsw_text and memsw_text.strip().lstrip("-").isdigit() else None
    for name, value in limit_writes(files.version, r, current_memsw):
        if files.read(name) is None:
            continue
        files.write(name, value)
