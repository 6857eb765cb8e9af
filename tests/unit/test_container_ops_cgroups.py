"""The engine's view of a container cgroup: mount discovery, freezer, live limit writes."""

from __future__ import annotations

import os
import tempfile

import pytest

from dockyard import errors
from dockyard.engine import cgroups as cg
from dockyard.engine.cgroups import KernelCgroupFiles, ResourceUpdate
from dockyard.testing.fake_cgroups import FakeCgroup

MOUNTINFO_V1 = """\
22 1 0:20 / /sys/fs/cgroup rw,nosuid - tmpfs tmpfs rw,mode=755
23 22 0:21 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
24 22 0:22 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
25 22 0:23 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
26 22 0:24 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
27 22 0:25 / /sys/fs/cgroup/net_cls,net_prio rw,relatime - cgroup cgroup rw,net_cls,net_prio
28 22 0:26 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
29 22 0:27 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
30 1 0:24 /some/sub /mnt/elsewhere rw,relatime - cgroup cgroup rw,freezer
"""

MOUNTINFO_V2 = "30 1 0:27 / /sys/fs/cgroup rw,relatime - cgroup2 cgroup2 rw,nsdelegate\n"


def test_v1_hierarchies_map_each_controller_to_its_mount() -> None:
    h = cg.hierarchies_from_mountinfo(MOUNTINFO_V1)
    assert h.version == 1
    assert h.v1 is not None
    assert h.v1["memory"] == "/sys/fs/cgroup/memory"
    assert h.v1["net_prio"] == "/sys/fs/cgroup/net_cls,net_prio"
    # a bind mount of a sub-tree is not a hierarchy root; name=systemd is no controller
    assert h.v1["freezer"] == "/sys/fs/cgroup/freezer"
    assert "name=systemd" not in h.v1


def test_pure_v2_host_uses_the_unified_mount() -> None:
    h = cg.hierarchies_from_mountinfo(MOUNTINFO_V2)
    assert h.version == 2 and h.unified == "/sys/fs/cgroup"


def test_kernel_files_route_names_to_their_hierarchy() -> None:
    f = KernelCgroupFiles(cg.hierarchies_from_mountinfo(MOUNTINFO_V1), "dockyard/abc")
    assert f.file_path("memory.stat") == "/sys/fs/cgroup/memory/dockyard/abc/memory.stat"
    assert f.file_path("cpuacct.usage") == "/sys/fs/cgroup/cpuacct/dockyard/abc/cpuacct.usage"
    assert f.file_path("cgroup.procs") == "/sys/fs/cgroup/freezer/dockyard/abc/cgroup.procs"
    assert f.file_path("pids.current") is None  # pids not mounted in this layout
    assert f.read("pids.current") is None
    with pytest.raises(errors.NotFound):
        f.write("pids.max", "10")
    v2 = KernelCgroupFiles(cg.hierarchies_from_mountinfo(MOUNTINFO_V2), "/dockyard/abc")
    assert v2.file_path("memory.max") == "/sys/fs/cgroup/dockyard/abc/memory.max"


def test_kernel_files_read_and_write_real_files() -> None:
    with tempfile.TemporaryDirectory() as mnt:
        os.makedirs(os.path.join(mnt, "x"))
        with open(os.path.join(mnt, "x", "memory.max"), "w") as fh:
            fh.write("max\n")
        f = KernelCgroupFiles(cg.Hierarchies(unified=mnt), "/x")
        assert f.read("memory.max") == "max\n"
        f.write("memory.max", "1048576")
        assert f.read("memory.max") == "1048576"
        assert f.read("memory.nothere") is None


def test_procs_lists_unique_sorted_pids() -> None:
    f = FakeCgroup(files={"cgroup.procs": "12\n7\n12\n"})
    assert cg.procs(f) == [7, 12]
    assert cg.procs(FakeCgroup()) == []


def test_v1_freeze_waits_through_freezing() -> None:
    f = FakeCgroup(1, {"freezer.state": "THAWED\n"}, freezing_reads=3)
    sleeps: list[float] = []
    cg.freeze(f, sleep=sleeps.append)
    assert f.frozen and cg.is_frozen(f)
    assert len(sleeps) >= 3  # it polled until FREEZING turned FROZEN
    cg.thaw(f, sleep=sleeps.append)
    assert not f.frozen and not cg.is_frozen(f)


def test_v1_freeze_gives_up_after_its_timeout() -> None:
    f = FakeCgroup(1, {"freezer.state": "THAWED\n"}, freezing_reads=10**9)
    now = [0.0]

    def sleep(d: float) -> None:
        now[0] += d

    with pytest.raises(errors.Unavailable):
        cg.freeze(f, timeout=1.0, sleep=sleep, clock=lambda: now[0])


def test_v2_freeze_uses_cgroup_freeze_and_events() -> None:
    f = FakeCgroup(2, {"cgroup.freeze": "0\n", "cgroup.events": "populated 1\nfrozen 0\n"})
    cg.freeze(f, sleep=lambda d: None)
    assert ("cgroup.freeze", "1") in f.writes and cg.is_frozen(f)
    cg.thaw(f, sleep=lambda d: None)
    assert not cg.is_frozen(f)


def test_freeze_without_a_freezer_is_unavailable() -> None:
    with pytest.raises(errors.Unavailable):
        cg.freeze(FakeCgroup(1, {}))


def test_v1_growing_memory_writes_swap_first() -> None:
    w = cg.limit_writes(1, ResourceUpdate(memory=200 << 20, memory_swap=400 << 20), current_memsw=100 << 20)
    assert [n for n, _ in w] == ["memory.memsw.limit_in_bytes", "memory.limit_in_bytes"]


def test_v1_shrinking_memory_writes_memory_first() -> None:
    w = cg.limit_writes(1, ResourceUpdate(memory=50 << 20, memory_swap=60 << 20), current_memsw=400 << 20)
    assert w == [("memory.limit_in_bytes", str(50 << 20)), ("memory.memsw.limit_in_bytes", str(60 << 20))]


def test_v1_unlimited_values() -> None:
    w = dict(cg.limit_writes(1, ResourceUpdate(memory_swap=-1, cpu_quota=-1, pids_limit=0), current_memsw=1 << 30))
    assert w == {"memory.memsw.limit_in_bytes": "-1", "cpu.cfs_quota_us": "-1", "pids.max": "max"}


def test_v2_translations() -> None:
    w = dict(
        cg.limit_writes(
            2, ResourceUpdate(memory=64 << 20, memory_swap=96 << 20, cpu_shares=1024, cpu_quota=50000, pids_limit=20)
        )
    )
    assert w["memory.max"] == str(64 << 20)
    assert w["memory.swap.max"] == str(32 << 20)  # v2 counts swap alone
    assert w["cpu.weight"] == str(cg.v2_weight_from_shares(1024))
    assert w["cpu.max"] == "50000 100000"
    assert w["pids.max"] == "20"


def test_shares_to_weight_bounds() -> None:
    assert cg.v2_weight_from_shares(2) == 1
    assert cg.v2_weight_from_shares(262144) == 10000
    assert 1 < cg.v2_weight_from_shares(1024) < 100


def test_apply_update_skips_missing_files_and_reads_current_swap() -> None:
    f = FakeCgroup(
        1,
        {
            "memory.limit_in_bytes": f"{cg.UNLIMITED_V1}\n",
            "memory.memsw.limit_in_bytes": f"{cg.UNLIMITED_V1}\n",
            "cpu.shares": "1024\n",
        },
    )
    cg.apply_update(f, ResourceUpdate(memory=64 << 20, memory_swap=128 << 20, cpu_shares=512, pids_limit=5))
    # swap is lowered from unlimited, so memory goes first; no pids controller here
    assert f.writes == [
        ("memory.limit_in_bytes", str(64 << 20)),
        ("memory.memsw.limit_in_bytes", str(128 << 20)),
        ("cpu.shares", "512"),
    ]


def test_apply_update_reports_kernel_refusal() -> None:
    f = FakeCgroup(1, {"memory.limit_in_bytes": "1\n"})
    f.refuse.add("memory.limit_in_bytes")
    with pytest.raises(errors.InvalidArgument):
        cg.apply_update(f, ResourceUpdate(memory=64 << 20))
