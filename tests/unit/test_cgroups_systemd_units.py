"""The systemd driver's pure parts on the runtime side: scope paths, slice expansion, unit properties."""

from __future__ import annotations

import pytest

from dockyard.errors import InvalidArgument
from dockyard.runtime.spec import Resources, parse_resources
from dockyard.runtime.state import ContainerState
from dockyard.runtime.systemd_units import (
    INFINITY,
    ScopePath,
    cpu_quota_per_sec,
    expand_slice,
    limit_properties,
    parse_scope_path,
    unit_properties,
)


def test_scope_path_parts_and_unit_name() -> None:
    scope = parse_scope_path("system.slice:docker:abc", "ignored")
    assert scope == ScopePath("system.slice", "docker", "abc")
    assert scope.unit == "docker-abc.scope"
    assert parse_scope_path(":docker:abc", "x").slice == "system.slice"  # empty slice: the default
    assert parse_scope_path("user.slice::abc", "x").unit == "abc.scope"  # no prefix, no dash


def test_empty_scope_path_is_the_default_for_the_container() -> None:
    assert parse_scope_path("", "c1") == ScopePath("system.slice", "dockyard", "c1")


@pytest.mark.parametrize(
    "path", ["/dockyard/abc", "system.slice:abc", "a.slice:b:c:d", "system.slice:docker:", "system.slice:docker:a/b"]
)
def test_scope_path_refuses_other_forms(path: str) -> None:
    with pytest.raises(InvalidArgument):
        parse_scope_path(path, "x")


def test_cgroupfs_path_message_is_runcs() -> None:
    with pytest.raises(InvalidArgument, match='"slice:prefix:name" for systemd cgroups, got "/a/b" instead'):
        parse_scope_path("/a/b", "x")


def test_a_container_cannot_be_a_slice() -> None:
    with pytest.raises(InvalidArgument, match="slice"):
        parse_scope_path("system.slice:docker:abc.slice", "x")


@pytest.mark.parametrize(
    ("slice_", "path"),
    [
        ("-.slice", "/"),
        ("system.slice", "/system.slice"),
        ("a-b.slice", "/a.slice/a-b.slice"),
        ("test-a-b.slice", "/test.slice/test-a.slice/test-a-b.slice"),
    ],
)
def test_expand_slice(slice_: str, path: str) -> None:
    assert expand_slice(slice_) == path


@pytest.mark.parametrize("slice_", ["system", ".slice", "a/b.slice", "-a.slice", "a-.slice", "a--b.slice", "x.scope"])
def test_expand_slice_refuses_bad_names(slice_: str) -> None:
    with pytest.raises(InvalidArgument):
        expand_slice(slice_)


def test_scope_path_validates_its_slice() -> None:
    with pytest.raises(InvalidArgument):
        parse_scope_path("bad--name.slice:docker:abc", "x")


def test_cpu_quota_rounds_up_to_whole_percents() -> None:
    assert cpu_quota_per_sec(None, None) is None
    assert cpu_quota_per_sec(50000, 100000) == 500000
    assert cpu_quota_per_sec(25000, None) == 250000  # default period 100 ms
    assert cpu_quota_per_sec(12345, 100000) == 130000  # 12.345 % -> 13 %
    assert cpu_quota_per_sec(100000, 50000) == 2000000  # two CPUs
    assert cpu_quota_per_sec(-1, 100000) == INFINITY
    assert cpu_quota_per_sec(None, 200000) == INFINITY  # a period alone: no quota


def _props(resources: Resources, unified: bool = False) -> dict[str, tuple[str, object]]:
    scope = ScopePath("system.slice", "docker", "abc")
    return dict(unit_properties(scope, (42,), resources, unified))


def test_properties_place_and_delegate_the_scope() -> None:
    props = _props(Resources())
    assert props["Slice"] == ("s", "system.slice")
    assert props["PIDs"] == ("au", [42])
    assert props["Delegate"] == ("b", True)
    assert props["DefaultDependencies"] == ("b", False)
    assert props["Description"][0] == "s" and "abc" in str(props["Description"][1])
    # nothing asked, no limits given: systemd's defaults stay
    assert not {"MemoryLimit", "MemoryMax", "CPUShares", "CPUWeight", "TasksMax", "CPUQuotaPerSecUSec"} & set(props)


def test_v1_properties_from_oci_resources() -> None:
    r = parse_resources(
        {
            "memory": {"limit": 64 << 20, "swap": 128 << 20},
            "cpu": {"shares": 512, "quota": 50000, "period": 100000},
            "pids": {"limit": 100},
            "blockIO": {"weight": 300},
        }
    )
    props = _props(r)
    assert props["MemoryLimit"] == ("t", 64 << 20)
    assert props["CPUShares"] == ("t", 512)
    assert props["CPUQuotaPerSecUSec"] == ("t", 500000)
    assert props["CPUQuotaPeriodUSec"] == ("t", 100000)
    assert props["TasksMax"] == ("t", 100)
    assert props["BlockIOWeight"] == ("t", 300)
    assert "MemoryMax" not in props and "MemorySwapMax" not in props and "CPUWeight" not in props


def test_v2_properties_use_the_unified_names_and_conversions() -> None:
    r = Resources(memory_limit=64 << 20, memory_swap=96 << 20, memory_reservation=32 << 20, cpu_shares=1024)
    props = _props(r._replace(blkio_weight=500), unified=True)
    assert props["MemoryMax"] == ("t", 64 << 20)
    assert props["MemorySwapMax"] == ("t", 32 << 20)  # swap is memory+swap in Docker's terms
    assert props["MemoryLow"] == ("t", 32 << 20)
    assert props["CPUWeight"] == ("t", 1 + (1024 - 2) * 9999 // 262142)
    assert props["IOWeight"] == ("t", 1 + (500 - 10) * 9999 // 990)
    assert "MemoryLimit" not in props and "CPUShares" not in props


def test_unlimited_values_are_systemds_infinity() -> None:
    props = _props(Resources(memory_limit=-1, pids_limit=-1, memory_swap=-1), unified=True)
    assert props["MemoryMax"] == ("t", INFINITY)
    assert props["TasksMax"] == ("t", INFINITY)
    assert props["MemorySwapMax"] == ("t", INFINITY)
    assert "TasksMax" not in _props(Resources(pids_limit=0))  # 0: not set, as in runc


def test_state_keeps_the_unit_for_delete() -> None:
    st = ContainerState("c", 1, "/b", "/b/rootfs", "now", {}, "1.0.2", 5, {"": "/sys/fs/cgroup/x"}, ("pid",))
    assert "systemdUnit" not in st.to_json()["dockyard"]
    with_unit = st._replace(systemd_unit="docker-c.scope")
    assert ContainerState.from_json(with_unit.to_json()) == with_unit
    assert ContainerState.from_json(st.to_json()).systemd_unit == ""


def test_limit_properties_are_the_update_ones() -> None:
    assert limit_properties(Resources(), unified=False) == []
    assert limit_properties(Resources(pids_limit=7, memory_limit=1 << 30), unified=False) == [
        ("MemoryLimit", ("t", 1 << 30)),
        ("TasksMax", ("t", 7)),
    ]
