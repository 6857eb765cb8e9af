"""The runtime's cgroup managers against a fake cgroupfs (plain files in a temp dir): v1 and v2 limits."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dockyard.runtime.linux import cgroups
from dockyard.runtime.linux.cgroups import V1Cgroups, V2Cgroups, manager_for
from dockyard.runtime.mountinfo import CgroupLayout
from dockyard.runtime.spec import parse_resources

RESOURCES = {
    "memory": {
        "limit": 64 << 20,
        "reservation": 32 << 20,
        "swap": 128 << 20,
        "swappiness": 10,
        "disableOOMKiller": True,
    },
    "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0", "mems": "0"},
    "pids": {"limit": 20},
    "blockIO": {
        "weight": 300,
        "weightDevice": [{"major": 8, "minor": 0, "weight": 200}],
        "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1048576}],
        "throttleWriteIOPSDevice": [{"major": 8, "minor": 0, "rate": 100}],
    },
    "hugepageLimits": [{"pageSize": "2MB", "limit": 4 << 20}],
}

V1_FILES = {
    "memory": [
        "memory.limit_in_bytes",
        "memory.memsw.limit_in_bytes",
        "memory.soft_limit_in_bytes",
        "memory.swappiness",
        "memory.oom_control",
    ],
    "cpu": ["cpu.shares", "cpu.cfs_period_us", "cpu.cfs_quota_us"],
    "cpuset": ["cpuset.cpus", "cpuset.mems"],
    "pids": ["pids.max"],
    "blkio": [
        "blkio.bfq.weight",
        "blkio.bfq.weight_device",
        "blkio.throttle.read_bps_device",
        "blkio.throttle.write_bps_device",
        "blkio.throttle.read_iops_device",
        "blkio.throttle.write_iops_device",
    ],
    "hugetlb": ["hugetlb.2MB.limit_in_bytes"],
}
V2_FILES = [
    "memory.max",
    "memory.swap.max",
    "memory.low",
    "pids.max",
    "cpu.weight",
    "cpu.max",
    "cpuset.cpus",
    "cpuset.mems",
    "io.weight",
    "io.max",
    "hugetlb.2MB.max",
]


def fake_tree(root: Path, files: list[str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name in files:
        (root / name).write_text("")
    return root


def read(path: Path) -> str:
    return path.read_text()


def test_v1_limits_land_in_each_hierarchy(tmp_path: Path) -> None:
    paths = {name: str(fake_tree(tmp_path / name / "dockyard" / "c1", files)) for name, files in V1_FILES.items()}
    mgr = V1Cgroups(paths)
    mgr.apply(parse_resources(RESOURCES))
    mem, cpu, blkio = (tmp_path / n / "dockyard" / "c1" for n in ("memory", "cpu", "blkio"))
    assert read(mem / "memory.limit_in_bytes") == str(64 << 20)
    assert read(mem / "memory.memsw.limit_in_bytes") == str(128 << 20)
    assert read(mem / "memory.soft_limit_in_bytes") == str(32 << 20)
    assert read(mem / "memory.swappiness") == "10"
    assert read(mem / "memory.oom_control") == "1"
    assert read(cpu / "cpu.cfs_quota_us") == "50000"
    assert read(cpu / "cpu.shares") == "512"
    assert read(tmp_path / "pids/dockyard/c1/pids.max") == "20"
    assert read(blkio / "blkio.bfq.weight") == "300"
    # Writes append to the fake: the last one per file is what a real cgroup would keep per device.
    assert read(blkio / "blkio.bfq.weight_device") == "8:0 200"
    assert read(blkio / "blkio.throttle.read_bps_device") == "8:0 1048576"
    assert read(blkio / "blkio.throttle.write_iops_device") == "8:0 100"
    assert read(tmp_path / "hugetlb/dockyard/c1/hugetlb.2MB.limit_in_bytes") == str(4 << 20)


def test_v1_update_leaves_unnamed_limits_alone(tmp_path: Path) -> None:
    paths = {name: str(fake_tree(tmp_path / name / "c", files)) for name, files in V1_FILES.items()}
    mgr = V1Cgroups(paths)
    mgr.apply(parse_resources(RESOURCES))
    mgr.apply(parse_resources({"pids": {"limit": 50}}))
    assert read(tmp_path / "pids/c/pids.max") == "50"
    assert read(tmp_path / "memory/c/memory.limit_in_bytes") == str(64 << 20)


def test_v1_blkio_weight_without_a_weight_file_is_refused(tmp_path: Path) -> None:
    blkio = fake_tree(tmp_path / "blkio" / "c", ["blkio.throttle.read_bps_device"])
    with pytest.raises(Exception, match="blkio"):
        V1Cgroups({"blkio": str(blkio)}).apply(parse_resources({"blockIO": {"weight": 300}}))


def test_v2_limits_in_the_unified_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = fake_tree(tmp_path / "dockyard" / "c1", V2_FILES)
    writes: list[tuple[str, str]] = []
    real_write = cgroups._write

    def recording_write(p: str, value: str) -> None:
        writes.append((os.path.basename(p), value))
        real_write(p, value)

    monkeypatch.setattr(cgroups, "_write", recording_write)
    V2Cgroups(str(path), str(tmp_path)).apply(parse_resources(RESOURCES))
    assert read(path / "memory.max") == str(64 << 20)
    assert read(path / "memory.swap.max") == str(64 << 20)  # v2 counts swap alone: memsw - memory
    assert read(path / "memory.low") == str(32 << 20)
    assert read(path / "pids.max") == "20"
    assert read(path / "cpu.max") == "50000 100000"
    assert read(path / "cpu.weight") == str(1 + ((512 - 2) * 9999) // 262142)
    assert read(path / "io.weight") == f"default {1 + (300 - 10) * 9999 // 990}"
    # io.max takes one "<dev> <key>=<value>" line per write, like the kernel file.
    assert [v for f, v in writes if f == "io.max"] == ["8:0 rbps=1048576", "8:0 wiops=100"]
    assert read(path / "hugetlb.2MB.max") == str(4 << 20)


def test_manager_follows_the_layout() -> None:
    v1 = manager_for(CgroupLayout("", (("memory", "/sys/fs/cgroup/memory"), ("pids", "/sys/fs/cgroup/pids"))), "/d/c")
    assert v1.paths == {"memory": "/sys/fs/cgroup/memory/d/c", "pids": "/sys/fs/cgroup/pids/d/c"}
    v2 = manager_for(CgroupLayout("/sys/fs/cgroup", ()), "/d/c")
    assert v2.paths == {"": "/sys/fs/cgroup/d/c"}
