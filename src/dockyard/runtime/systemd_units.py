"""systemd's side of a container's cgroup, as pure functions: unit names, slice paths, unit properties.

The runtime (``runtime/linux/systemd.py``) asks systemd for a transient scope unit
with these properties; the test fake (``testing/fake_systemd.py``) reads them back.
"""

from __future__ import annotations

from typing import NamedTuple

from dockyard.errors import InvalidArgument
from dockyard.runtime.spec import Resources

__all__ = [
    "DEFAULT_SLICE",
    "INFINITY",
    "ScopePath",
    "cpu_quota_per_sec",
    "expand_slice",
    "limit_properties",
    "parse_scope_path",
    "unit_properties",
]

DEFAULT_SLICE = "system.slice"
INFINITY = (1 << 64) - 1  # systemd's "infinity" for uint64 limits (USEC_INFINITY, CGROUP_LIMIT_MAX)

# A D-Bus property for StartTransientUnit: (name, (D-Bus signature, value)).
Property = tuple[str, tuple[str, object]]


class ScopePath(NamedTuple):
    """``linux.cgroupsPath`` in systemd form, ``slice:prefix:name``, as runc reads it."""

    slice: str
    prefix: str
    name: str

    @property
    def unit(self) -> str:
        return f"{self.prefix}-{self.name}.scope" if self.prefix else f"{self.name}.scope"


def parse_scope_path(cgroups_path: str, container_id: str) -> ScopePath:
    """``slice:prefix:name`` -> its parts; an empty path is ``system.slice:dockyard:<id>``."""
    if not cgroups_path:
        return ScopePath(DEFAULT_SLICE, "dockyard", container_id)
    parts = cgroups_path.split(":")
    if len(parts) != 3:
        raise InvalidArgument(
            'expected cgroupsPath to be of format "slice:prefix:name" for systemd cgroups, '
            f'got "{cgroups_path}" instead'
        )
    slice_, prefix, name = parts
    if not name or "/" in name or "/" in prefix:
        raise InvalidArgument(f"invalid systemd cgroupsPath {cgroups_path!r}: the unit needs a plain name")
    if name.endswith(".slice"):
        # runc would make the container a slice of its own; Docker never asks for that
        raise InvalidArgument(f"invalid systemd cgroupsPath {cgroups_path!r}: a container cannot be a slice")
    slice_ = slice_ or DEFAULT_SLICE
    expand_slice(slice_)  # validates
    return ScopePath(slice_, prefix, name)


def expand_slice(slice_: str) -> str:
    """A slice's cgroup path below systemd's root: ``a-b-c.slice`` -> ``/a.slice/a-b.slice/a-b-c.slice``."""
    suffix = ".slice"
    if not slice_.endswith(suffix) or len(slice_) <= len(suffix) or "/" in slice_:
        raise InvalidArgument(f'invalid slice name "{slice_}": it must be named "xxx.slice"')
    if slice_ == "-.slice":
        return "/"
    stem = slice_[: -len(suffix)]
    if "--" in stem or stem.startswith("-") or stem.endswith("-"):
        raise InvalidArgument(f'invalid slice name "{slice_}": dashes separate its parent slices')
    path = ""
    prefix = ""
    for component in stem.split("-"):
        path += f"/{prefix}{component}{suffix}"
        prefix += component + "-"
    return path


def cpu_quota_per_sec(quota: int | None, period: int | None) -> int | None:
    """CPUQuotaPerSecUSec for a CFS quota/period, or None when neither is set.

    systemd keeps the quota as whole percents of a CPU, so a fraction is rounded up
    to the next 10 ms per second (as runc does): the cgroup then gets at least its quota.
    """
    if not quota and not period:
        return None
    if quota is None or quota <= 0:
        return INFINITY
    per_sec = quota * 1_000_000 // (period or 100_000)
    if per_sec % 10_000:
        per_sec = (per_sec // 10_000 + 1) * 10_000
    return per_sec


def _limit(value: int) -> int:
    return INFINITY if value < 0 else value


def unit_properties(
    scope: ScopePath, pids: tuple[int, ...], resources: Resources, unified: bool, description: str = ""
) -> list[Property]:
    """The properties of the container's transient scope: where it goes, who is in it, and its limits.

    Only limits systemd knows are given; the runtime writes the rest (cpuset, devices,
    swappiness, throttles, hugetlb) to the scope's cgroup files afterwards. ``unified``
    selects the cgroup v2 names (MemoryMax, CPUWeight) over the v1 ones (MemoryLimit, CPUShares).
    """
    props: list[Property] = [
        ("Description", ("s", description or f"dockyard container {scope.name}")),
        ("Slice", ("s", scope.slice)),
        ("Delegate", ("b", True)),
        ("PIDs", ("au", list(pids))),
        ("DefaultDependencies", ("b", False)),
        ("MemoryAccounting", ("b", True)),
        ("CPUAccounting", ("b", True)),
        ("TasksAccounting", ("b", True)),
    ]
    return props + limit_properties(resources, unified)


def limit_properties(resources: Resources, unified: bool) -> list[Property]:
    """The limits of ``resources`` that systemd keeps for a unit (fields left None or 0 are not set)."""
    props: list[Property] = []
    r = resources
    if r.memory_limit is not None and r.memory_limit != 0:
        props.append(("MemoryMax" if unified else "MemoryLimit", ("t", _limit(r.memory_limit))))
        if unified and r.memory_swap is not None and r.memory_swap != 0:
            swap = INFINITY if r.memory_swap < 0 else max(r.memory_swap - max(r.memory_limit, 0), 0)
            props.append(("MemorySwapMax", ("t", swap)))
    if unified and r.memory_reservation:
        props.append(("MemoryLow", ("t", _limit(r.memory_reservation))))
    if r.cpu_shares:
        if unified:  # runc's conversion of v1 shares [2, 262144] to v2 weight [1, 10000]
            props.append(("CPUWeight", ("t", 1 + ((r.cpu_shares - 2) * 9999) // 262142)))
        else:
            props.append(("CPUShares", ("t", r.cpu_shares)))
    per_sec = cpu_quota_per_sec(r.cpu_quota, r.cpu_period)
    if per_sec is not None:
        props.append(("CPUQuotaPerSecUSec", ("t", per_sec)))
    if r.cpu_period:
        props.append(("CPUQuotaPeriodUSec", ("t", r.cpu_period)))
    if r.pids_limit is not None and (r.pids_limit > 0 or r.pids_limit == -1):
        props.append(("TasksMax", ("t", _limit(r.pids_limit))))
    if r.blkio_weight:
        if unified:  # v1 weight [10, 1000] -> v2 io.weight [1, 10000], as the cgroupfs manager converts
            props.append(("IOWeight", ("t", 1 + (r.blkio_weight - 10) * 9999 // 990)))
        else:
            props.append(("BlockIOWeight", ("t", r.blkio_weight)))
    return props
