"""Container use cases beyond the lifecycle: top, stats, pause/unpause, rename, update.

The kernel is reached through three small seams, so the use cases run in unit tests
with fakes: :class:`CgroupOpener` (a container's cgroup files), :class:`HostReader`
(/proc readings for stats) and :class:`PsRunner` (the host's ``ps``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import replace
from typing import Any, Protocol

from dockyard import errors
from dockyard.containers.naming import validate_name
from dockyard.containers.store import ContainerRecord
from dockyard.engine import cgroups as cg
from dockyard.engine.cgroups import CgroupFiles, ResourceUpdate
from dockyard.engine.stats import HostSample, empty_stats, sample_stats, system_cpu_usage
from dockyard.engine.timefmt import now_rfc3339
from dockyard.engine.top import parse_ps_output, ps_argv, ps_pids_arg
from dockyard.tasks.api import Task

__all__ = [
    "CgroupOpener",
    "ContainerAccess",
    "ContainerOps",
    "HostReader",
    "KernelCgroupOpener",
    "KernelHost",
    "PsRunner",
    "SubprocessPs",
    "parse_update",
]

_RESTART_POLICIES = ("", "no", "always", "unless-stopped", "on-failure")
_MIN_MEMORY = 6 * 1024 * 1024


class ContainerAccess(Protocol):
    """What these use cases need from the container service."""

    def get(self, ref: str) -> ContainerRecord: ...

    def all(self) -> list[ContainerRecord]: ...

    def task_for(self, ref: str) -> Task | None: ...

    def update_record(self, rec: ContainerRecord) -> None: ...

    def emit(self, rec: ContainerRecord, action: str, extra: Mapping[str, str] | None = None) -> None: ...


class CgroupOpener(Protocol):
    def open(self, rec: ContainerRecord) -> CgroupFiles:
        """The cgroup files of a running container."""


class HostReader(Protocol):
    def sample(self) -> HostSample:
        """The host's CPU time, CPU count and memory now."""

    def net_dev(self, pid: int) -> str | None:
        """``/proc/<pid>/net/dev`` of a container's init; None when it uses the host's network namespace."""


class PsRunner(Protocol):
    async def run(self, argv: list[str]) -> str:
        """The output of ``ps``; raises Internal with its error text when it fails."""


class KernelCgroupOpener:
    """Finds a container's cgroup from its bundle's ``linux.cgroupsPath`` (where the runtime put it)."""

    def __init__(self, default_parent: str = "/dockyard", mountinfo: str | None = None) -> None:
        self._default_parent = default_parent
        self._mountinfo = mountinfo  # None: read /proc/self/mountinfo on first use

    def open(self, rec: ContainerRecord) -> CgroupFiles:
        path = ""
        try:
            with open(os.path.join(rec.bundle, "config.json"), "rb") as f:
                path = str((json.load(f).get("linux") or {}).get("cgroupsPath") or "")
        except (OSError, ValueError):
            pass
        if ":" in path and not path.startswith("/"):
            path = _cgroup_of_pid(rec.state.pid)  # a systemd scope ("slice:prefix:name"): where systemd put it
        if not path or (":" in path and not path.startswith("/")):
            parent = str(rec.host_config.get("CgroupParent") or self._default_parent)
            path = f"{parent.rstrip('/')}/{rec.id}"
        if self._mountinfo is None:  # cgroup mounts do not move while the daemon runs
            with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as f:
                self._mountinfo = f.read()
        return cg.open_cgroup(path, self._mountinfo)


def _cgroup_of_pid(pid: int) -> str:
    """The cgroup a process is in (the memory hierarchy's, else the v2 one); "" when it is gone."""
    if pid <= 0:
        return ""
    try:
        with open(f"/proc/{pid}/cgroup", encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError:
        return ""
    paths: dict[str, str] = {}
    for line in text.splitlines():
        _, controllers, path = line.split(":", 2)
        for name in controllers.split(","):
            paths[name] = path
    return paths.get("memory") or paths.get("") or ""


class KernelHost:
    def __init__(self) -> None:
        self._clk_tck = os.sysconf("SC_CLK_TCK")
        self._host_netns = _ns_inode("/proc/1/ns/net")

    def sample(self) -> HostSample:
        with open("/proc/stat", encoding="ascii") as f:
            stat = f.read()
        return HostSample(
            system_cpu_usage=system_cpu_usage(stat, self._clk_tck),
            online_cpus=_online_cpus(stat),
            machine_memory=_machine_memory(),
            clk_tck=self._clk_tck,
        )

    def net_dev(self, pid: int) -> str | None:
        if pid <= 0 or _ns_inode(f"/proc/{pid}/ns/net") in (None, self._host_netns):
            return None
        try:
            with open(f"/proc/{pid}/net/dev", encoding="ascii", errors="replace") as f:
                return f.read()
        except OSError:
            return None


class SubprocessPs:
    async def run(self, argv: list[str]) -> str:
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
            )
        except OSError as e:
            raise errors.Internal(f"Error running ps: {e}") from None
        out, err = await proc.communicate()
        if proc.returncode != 0:
            raise errors.InvalidArgument(
                f"ps: {err.decode('utf-8', 'replace').strip() or f'exit status {proc.returncode}'}"
            )
        return out.decode("utf-8", "replace")


def _ns_inode(path: str) -> int | None:
    try:
        return os.stat(path).st_ino
    except OSError:
        return None


def _online_cpus(proc_stat: str) -> int:
    n = sum(1 for line in proc_stat.splitlines() if line.startswith("cpu") and line[3:4].isdigit())
    return n or (os.cpu_count() or 1)


def _machine_memory() -> int:
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


# --- update requests (pure) ------------------------------------------------------------------


def _opt_int(body: Mapping[str, Any], key: str, *, zero_is_unset: bool = True) -> int | None:
    v = body.get(key)
    if v is None:
        return None
    if not isinstance(v, int) or isinstance(v, bool):
        raise errors.InvalidArgument(f"invalid value for {key}: {v!r}")
    if v == 0 and zero_is_unset:
        return None
    return v


def parse_update(
    body: Mapping[str, Any], host_config: Mapping[str, Any]
) -> tuple[ResourceUpdate, dict[str, Any] | None, dict[str, Any]]:
    """A ``POST /containers/{id}/update`` body against the container's HostConfig.

    Returns the cgroup changes, the new RestartPolicy (None: unchanged) and the
    HostConfig fields to store. Zero values mean "unchanged", as in dockerd; PidsLimit
    0 or -1 means unlimited.
    """
    memory = _opt_int(body, "Memory")
    swap = _opt_int(body, "MemorySwap")
    reservation = _opt_int(body, "MemoryReservation")
    if memory is not None and 0 < memory < _MIN_MEMORY:
        raise errors.InvalidArgument("Minimum memory limit allowed is 6MB")
    if memory is not None and swap is not None and 0 < swap < memory:
        raise errors.InvalidArgument("Minimum memoryswap limit should be larger than memory limit, see usage")
    current_swap = host_config.get("MemorySwap") or 0
    if memory is not None and swap is None and isinstance(current_swap, int) and 0 < current_swap < memory:
        raise errors.Conflict(
            "Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time"
        )
    nano = _opt_int(body, "NanoCpus")
    quota = _opt_int(body, "CpuQuota")
    period = _opt_int(body, "CpuPeriod")
    if nano is not None and (quota is not None or host_config.get("CpuQuota")):
        raise errors.Conflict("Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set")
    if nano is not None and (period is not None or host_config.get("CpuPeriod")):
        raise errors.Conflict("Conflicting options: CPU Period cannot be updated as NanoCPUs has already been set")
    if nano is not None:
        if nano < 0:
            raise errors.InvalidArgument("Range of CPUs is from 0.01 to the number of CPUs available")
        period = 100000
        quota = nano * period // 1_000_000_000
    pids = _opt_int(body, "PidsLimit", zero_is_unset=False)
    cpuset_cpus = body.get("CpusetCpus") or None
    cpuset_mems = body.get("CpusetMems") or None
    for key, val in (("CpusetCpus", cpuset_cpus), ("CpusetMems", cpuset_mems)):
        if val is not None and not isinstance(val, str):
            raise errors.InvalidArgument(f"invalid value for {key}: {val!r}")
    blkio = _opt_int(body, "BlkioWeight")
    if blkio is not None and not 10 <= blkio <= 1000:
        raise errors.InvalidArgument("Range of blkio weight is from 10 to 1000")
    shares = _opt_int(body, "CpuShares")
    update = ResourceUpdate(
        memory=memory,
        memory_swap=swap,
        memory_reservation=reservation,
        cpu_shares=shares,
        cpu_period=period,
        cpu_quota=quota,
        cpuset_cpus=cpuset_cpus,
        cpuset_mems=cpuset_mems,
        pids_limit=pids,
        blkio_weight=blkio,
    )
    stored: dict[str, Any] = {}
    for key in (
        "Memory",
        "MemorySwap",
        "MemoryReservation",
        "CpuShares",
        "CpuQuota",
        "CpuPeriod",
        "NanoCpus",
        "CpusetCpus",
        "CpusetMems",
        "BlkioWeight",
    ):
        v = body.get(key)
        if v not in (None, 0, ""):
            stored[key] = v
    if pids is not None:
        stored["PidsLimit"] = pids
    policy = _restart_policy(body.get("RestartPolicy"), host_config)
    return update, policy, stored


def _restart_policy(raw: Any, host_config: Mapping[str, Any]) -> dict[str, Any] | None:
    if not raw:
        return None
    if not isinstance(raw, dict):
        raise errors.InvalidArgument("RestartPolicy must be an object")
    name = raw.get("Name") or ""
    if not name:
        return None  # the CLI always sends a policy; an empty name leaves it unchanged (as dockerd)
    count = raw.get("MaximumRetryCount") or 0
    if name not in _RESTART_POLICIES:
        raise errors.InvalidArgument(f"invalid restart policy: unknown policy '{name}'")
    if not isinstance(count, int) or isinstance(count, bool):
        raise errors.InvalidArgument("invalid restart policy: maximum retry count must be an integer")
    if count < 0:
        raise errors.InvalidArgument("invalid restart policy: maximum retry count cannot be negative")
    if count and name != "on-failure":
        raise errors.InvalidArgument("invalid restart policy: maximum retry count can only be used with 'on-failure'")
    if name not in ("", "no") and host_config.get("AutoRemove"):
        raise errors.Conflict("Restart policy cannot be updated because AutoRemove is enabled for the container")
    return {"Name": name, "MaximumRetryCount": count}


# --- the use cases ---------------------------------------------------------------------------


class ContainerOps:
    def __init__(
        self,
        containers: ContainerAccess,
        *,
        cgroups: CgroupOpener,
        host: HostReader,
        ps: PsRunner,
        stats_interval: float = 1.0,
        freeze_timeout: float = 10.0,
        on_rename: Callable[[ContainerRecord, str], Awaitable[None]] | None = None,
        on_update: Callable[[ContainerRecord, ResourceUpdate], Awaitable[None]] | None = None,
    ) -> None:
        self._containers = containers
        self._on_rename = on_rename  # the network service: its DNS answers names
        self._on_update = on_update  # the systemd cgroup driver: systemd keeps a copy of the limits
        self._cgroups = cgroups
        self._host = host
        self._ps = ps
        self._interval = stats_interval
        self._freeze_timeout = freeze_timeout
        self._locks: dict[str, asyncio.Lock] = {}

    def _lock(self, cid: str) -> asyncio.Lock:
        lock = self._locks.get(cid)
        if lock is None:
            lock = self._locks[cid] = asyncio.Lock()
        return lock

    def _live(self, ref: str) -> ContainerRecord:
        rec = self._containers.get(ref)
        if not rec.state.running or self._containers.task_for(rec.id) is None:
            raise errors.Conflict(f"Container {rec.id} is not running")
        return rec

    # --- top ---------------------------------------------------------------------------------

    async def top(self, ref: str, ps_args: str = "") -> dict[str, Any]:
        argv = ps_argv(ps_args)
        rec = self._live(ref)
        files = await asyncio.to_thread(self._cgroups.open, rec)
        pids = await asyncio.to_thread(cg.procs, files)
        if not pids and rec.state.pid:
            pids = [rec.state.pid]
        try:
            output = await self._ps.run([*argv, ps_pids_arg(pids)])
        except errors.DockyardError:
            output = await self._ps.run(argv)  # args that do not combine with -q
        titles, rows = parse_ps_output(output, pids)
        return {"Titles": titles, "Processes": rows}

    # --- stats -------------------------------------------------------------------------------

    def _sample(self, rec: ContainerRecord, files: CgroupFiles) -> dict[str, Any]:
        host = self._host.sample()
        return sample_stats(
            files, host, read=now_rfc3339(), net_dev=self._host.net_dev(rec.state.pid), name=rec.name, cid=rec.id
        )

    async def stats(self, ref: str, *, stream: bool = True, one_shot: bool = False) -> AsyncIterator[dict[str, Any]]:
        """Docker's stats frames: one (``stream`` false), or one per interval until the caller stops.

        Each frame carries the previous sample as ``precpu_stats``; without ``one_shot`` a
        single answer is the second sample, so its CPU percentage is meaningful.
        """
        if stream and one_shot:
            raise errors.InvalidArgument("cannot have stream=true and one-shot=true")
        rec = self._containers.get(ref)
        if not stream and (rec.state.status not in ("running", "paused")):
            yield empty_stats(rec.name, rec.id)
            return
        prev: dict[str, Any] | None = None
        first = True
        while True:
            try:
                rec = self._containers.get(rec.id)
            except errors.NotFound:
                return
            if rec.state.status in ("running", "paused"):
                files = await asyncio.to_thread(self._cgroups.open, rec)
                cur = await asyncio.to_thread(self._sample, rec, files)
                if prev is not None:
                    cur["precpu_stats"] = prev["cpu_stats"]
                    cur["preread"] = prev["read"]
                prev = cur
            else:
                cur, prev = empty_stats(rec.name, rec.id), None
            if stream or one_shot or not first:
                yield cur
                if not stream:
                    return
            first = False
            await asyncio.sleep(self._interval)

    # --- pause / unpause -------------------------------------------------------------------

    async def pause(self, ref: str) -> None:
        rec = self._containers.get(ref)
        async with self._lock(rec.id):
            rec = self._live(rec.id)
            if rec.state.status == "paused":
                raise errors.Conflict(f"Container {rec.id} is already paused")
            if rec.state.status == "restarting":
                raise errors.Conflict(f"Container {rec.id} is restarting, wait until the container is running")
            files = await asyncio.to_thread(self._cgroups.open, rec)
            await asyncio.to_thread(cg.freeze, files, self._freeze_timeout)
            rec = self._containers.get(rec.id)
            if not rec.state.running:  # it exited meanwhile: leave nothing frozen behind
                with contextlib.suppress(errors.DockyardError, OSError):
                    await asyncio.to_thread(cg.thaw, files, self._freeze_timeout)
                raise errors.Conflict(f"Container {rec.id} is not running")
            rec = rec.with_state(status="paused")
            self._containers.update_record(rec)
            self._containers.emit(rec, "pause")

    async def unpause(self, ref: str) -> None:
        rec = self._containers.get(ref)
        async with self._lock(rec.id):
            rec = self._containers.get(rec.id)
            if rec.state.status != "paused":
                raise errors.Conflict(f"Container {rec.id} is not paused")
            await self._thaw(rec)
            rec = self._containers.get(rec.id)
            self._containers.emit(rec, "unpause")

    async def _thaw(self, rec: ContainerRecord) -> None:
        files = await asyncio.to_thread(self._cgroups.open, rec)
        await asyncio.to_thread(cg.thaw, files, self._freeze_timeout)
        rec = self._containers.get(rec.id)
        if rec.state.status == "paused":
            self._containers.update_record(rec.with_state(status="running"))

    async def thaw_for_signal(self, rec: ContainerRecord) -> None:
        """Stop/kill/rm -f of a paused container: a frozen process only acts on a signal once thawed."""
        async with self._lock(rec.id):
            rec = self._containers.get(rec.id)
            if rec.state.status == "paused":
                await self._thaw(rec)

    # --- rename ---------------------------------------------------------------------------------

    async def rename(self, ref: str, new_name: str) -> None:
        if not new_name or not new_name.strip("/"):
            raise errors.InvalidArgument("Neither old nor new names may be empty")
        validate_name(new_name)
        name = new_name.lstrip("/")
        rec = self._containers.get(ref)
        if rec.name == name:
            raise errors.InvalidArgument("Renaming a container with the same name as its current name")
        owner = next((r for r in self._containers.all() if r.name == name), None)
        if owner is not None:
            raise errors.NameConflict(
                f'Conflict. The container name "/{name}" is already in use by container "{owner.id}". '
                "You have to remove (or rename) that container to be able to reuse that name."
            )
        old = rec.name
        rec = replace(self._containers.get(rec.id), name=name)
        self._containers.update_record(rec)
        if self._on_rename is not None:
            await self._on_rename(rec, old)
        self._containers.emit(rec, "rename", {"oldName": "/" + old})

    # --- update ---------------------------------------------------------------------------------

    async def update(self, ref: str, body: Mapping[str, Any]) -> list[str]:
        """Change the restart policy and resources; a running container's cgroup changes at once."""
        rec = self._containers.get(ref)
        resources, policy, stored = parse_update(body, rec.host_config)
        async with self._lock(rec.id):
            rec = self._containers.get(rec.id)
            if rec.state.status in ("removing", "dead"):
                raise errors.Conflict(f"Cannot update container {rec.id}: container is marked for removal")
            if not resources.is_empty() and rec.state.status in ("running", "paused"):
                files = await asyncio.to_thread(self._cgroups.open, rec)
                try:
                    await asyncio.to_thread(cg.apply_update, files, resources)
                    if self._on_update is not None:
                        await self._on_update(rec, resources)
                except errors.DockyardError as e:
                    raise type(e)(f"Cannot update container {rec.id}: {e.message}") from None
            rec = self._containers.get(rec.id)
            host_config = dict(rec.host_config)
            host_config.update(stored)
            if policy is not None:
                host_config["RestartPolicy"] = policy
            self._containers.update_record(replace(rec, host_config=host_config))
            self._containers.emit(rec, "update")
        return []
