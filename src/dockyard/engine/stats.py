"""Docker's container stats JSON, computed from cgroup files and /proc texts (pure).

The shape is what ``docker stats`` reads: ``cpu_stats``/``precpu_stats`` (it divides
the container's CPU delta by the host's), ``memory_stats`` (usage minus inactive file
pages: ``total_inactive_file`` on v1, ``inactive_file`` on v2), ``blkio_stats``
(``io_service_bytes_recursive`` entries whose ``op`` is read/write), ``pids_stats``
and ``networks`` (per interface inside the container).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dockyard.engine.cgroups import UNLIMITED_V1, CgroupFiles

__all__ = [
    "HostSample",
    "blkio_stats",
    "cpu_stats",
    "empty_stats",
    "memory_stats",
    "network_stats",
    "pids_stats",
    "sample_stats",
    "system_cpu_usage",
]

_BLKIO_KEYS = (
    "io_service_bytes_recursive",
    "io_serviced_recursive",
    "io_queue_recursive",
    "io_service_time_recursive",
    "io_wait_time_recursive",
    "io_merged_recursive",
    "io_time_recursive",
    "sectors_recursive",
)


@dataclass(frozen=True)
class HostSample:
    """What the host says at sampling time: /proc/stat's CPU time, CPU count, RAM size."""

    system_cpu_usage: int  # nanoseconds, all CPUs
    online_cpus: int
    machine_memory: int  # bytes
    clk_tck: int = 100


def system_cpu_usage(proc_stat: str, clk_tck: int) -> int:
    """The host's total CPU time in nanoseconds (the first line of /proc/stat, as dockerd sums it)."""
    for line in proc_stat.splitlines():
        fields = line.split()
        if fields and fields[0] == "cpu":
            ticks = sum(int(x) for x in fields[1:8] if x.isdigit())
            return ticks * 1_000_000_000 // clk_tck
    return 0


def _kv(text: str | None) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in (text or "").splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("-").isdigit():
            out[parts[0]] = int(parts[1])
    return out


def _int(text: str | None, default: int = 0) -> int:
    t = (text or "").strip()
    return int(t) if t.lstrip("-").isdigit() else default


def _throttling(stat: Mapping[str, int], time_key: str, scale: int) -> dict[str, int]:
    return {
        "periods": stat.get("nr_periods", 0),
        "throttled_periods": stat.get("nr_throttled", 0),
        "throttled_time": stat.get(time_key, 0) * scale,
    }


def cpu_stats(files: CgroupFiles, host: HostSample) -> dict[str, Any]:
    if files.version == 2:
        stat = _kv(files.read("cpu.stat"))
        usage: dict[str, Any] = {
            "total_usage": stat.get("usage_usec", 0) * 1000,
            "usage_in_kernelmode": stat.get("system_usec", 0) * 1000,
            "usage_in_usermode": stat.get("user_usec", 0) * 1000,
        }
        throttling = _throttling(stat, "throttled_usec", 1000)
    else:
        ticks = _kv(files.read("cpuacct.stat"))
        per_tick = 1_000_000_000 // max(host.clk_tck, 1)
        usage = {
            "total_usage": _int(files.read("cpuacct.usage")),
            "percpu_usage": [int(x) for x in (files.read("cpuacct.usage_percpu") or "").split() if x.isdigit()],
            "usage_in_kernelmode": ticks.get("system", 0) * per_tick,
            "usage_in_usermode": ticks.get("user", 0) * per_tick,
        }
        throttling = _throttling(_kv(files.read("cpu.stat")), "throttled_time", 1)
    return {
        "cpu_usage": usage,
        "system_cpu_usage": host.system_cpu_usage,
        "online_cpus": host.online_cpus,
        "throttling_data": throttling,
    }


def memory_stats(files: CgroupFiles, machine_memory: int) -> dict[str, Any]:
    if files.version == 2:
        usage = _int(files.read("memory.current"))
        limit_text = (files.read("memory.max") or "max").strip()
        limit = int(limit_text) if limit_text.isdigit() else UNLIMITED_V1
        out: dict[str, Any] = {"usage": usage, "stats": _kv(files.read("memory.stat"))}
        peak = files.read("memory.peak")
        if peak is not None:
            out["max_usage"] = _int(peak)
    else:
        usage = _int(files.read("memory.usage_in_bytes"))
        limit = _int(files.read("memory.limit_in_bytes"), UNLIMITED_V1)
        out = {
            "usage": usage,
            "max_usage": _int(files.read("memory.max_usage_in_bytes")),
            "stats": _kv(files.read("memory.stat")),
            "failcnt": _int(files.read("memory.failcnt")),
        }
    # dockerd reports the machine's memory for a container without a (smaller) limit
    out["limit"] = machine_memory if machine_memory and limit > machine_memory else limit
    return out


def _blkio_v1(text: str | None) -> list[dict[str, Any]]:
    out = []
    for line in (text or "").splitlines():
        parts = line.split()
        if len(parts) != 3 or ":" not in parts[0] or not parts[2].isdigit():
            continue  # the "Total N" line, or junk
        major, _, minor = parts[0].partition(":")
        if major.isdigit() and minor.isdigit():
            out.append({"major": int(major), "minor": int(minor), "op": parts[1], "value": int(parts[2])})
    return out


def blkio_stats(files: CgroupFiles) -> dict[str, Any]:
    stats: dict[str, Any] = {k: [] for k in _BLKIO_KEYS}
    if files.version == 2:
        for line in (files.read("io.stat") or "").splitlines():
            dev, *pairs = line.split()
            major, _, minor = dev.partition(":")
            if not (major.isdigit() and minor.isdigit()):
                continue
            kv = {k: int(v) for k, _, v in (p.partition("=") for p in pairs) if v.isdigit()}
            for key, read_key, write_key in (
                ("io_service_bytes_recursive", "rbytes", "wbytes"),
                ("io_serviced_recursive", "rios", "wios"),
            ):
                for op, k in (("read", read_key), ("write", write_key)):
                    stats[key].append({"major": int(major), "minor": int(minor), "op": op, "value": kv.get(k, 0)})
        return stats
    # the CFQ/BFQ files are empty without those schedulers; the throttle ones always count
    for key, names in (
        (
            "io_service_bytes_recursive",
            ("blkio.io_service_bytes_recursive", "blkio.throttle.io_service_bytes_recursive"),
        ),
        ("io_serviced_recursive", ("blkio.io_serviced_recursive", "blkio.throttle.io_serviced_recursive")),
    ):
        for name in names:
            entries = _blkio_v1(files.read(name))
            if entries:
                stats[key] = entries
                break
    return stats


def pids_stats(files: CgroupFiles) -> dict[str, Any]:
    out: dict[str, Any] = {}
    current = files.read("pids.current")
    if current is not None:
        out["current"] = _int(current)
    limit = (files.read("pids.max") or "").strip()
    if limit.isdigit():
        out["limit"] = int(limit)
    return out


def network_stats(net_dev: str) -> dict[str, dict[str, int]]:
    """Per-interface counters from a ``/proc/<pid>/net/dev`` text, loopback left out (as dockerd)."""
    out: dict[str, dict[str, int]] = {}
    for line in net_dev.splitlines()[2:]:
        name, sep, rest = line.partition(":")
        name = name.strip()
        values = rest.split()
        if not sep or name == "lo" or len(values) < 12 or not all(v.isdigit() for v in values[:12]):
            continue
        v = [int(x) for x in values]
        out[name] = {
            "rx_bytes": v[0],
            "rx_packets": v[1],
            "rx_errors": v[2],
            "rx_dropped": v[3],
            "tx_bytes": v[8],
            "tx_packets": v[9],
            "tx_errors": v[10],
            "tx_dropped": v[11],
        }
    return out


def empty_stats(name: str, cid: str) -> dict[str, Any]:
    """What dockerd answers for a container that is not running."""
    zero_cpu = {
        "cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
        "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0},
    }
    return {
        "read": "0001-01-01T00:00:00Z",
        "preread": "0001-01-01T00:00:00Z",
        "pids_stats": {},
        "blkio_stats": {k: None for k in _BLKIO_KEYS},
        "num_procs": 0,
        "storage_stats": {},
        "cpu_stats": zero_cpu,
        "precpu_stats": zero_cpu,
        "memory_stats": {},
        "name": "/" + name,
        "id": cid,
    }


def sample_stats(
    files: CgroupFiles, host: HostSample, *, read: str, net_dev: str | None, name: str, cid: str
) -> dict[str, Any]:
    """One stats sample (``precpu_stats``/``preread`` are filled by the caller from the previous one).

    ``net_dev`` is None when the container shares the host's network namespace: dockerd
    then reports no networks.
    """
    out: dict[str, Any] = {
        "read": read,
        "preread": "0001-01-01T00:00:00Z",
        "pids_stats": pids_stats(files),
        "blkio_stats": blkio_stats(files),
        "num_procs": 0,
        "storage_stats": {},
        "cpu_stats": cpu_stats(files, host),
        "precpu_stats": {
            "cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
            "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0},
        },
        "memory_stats": memory_stats(files, host.machine_memory),
        "name": "/" + name,
        "id": cid,
    }
    if net_dev is not None:
        nets = network_stats(net_dev)
        if nets:
            out["networks"] = nets
    return out
