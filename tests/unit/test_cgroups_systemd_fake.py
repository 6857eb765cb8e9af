"""The fake systemd's behaviour without a bus: scopes below a root, in directories standing for hierarchies."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dockyard.runtime.spec import Resources
from dockyard.runtime.systemd_units import INFINITY, ScopePath, unit_properties
from dockyard.testing.fake_systemd import BusError, ScopeManager, bus_path_escape, managed_hierarchies

MOUNTINFO = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
90 80 0:32 / /mnt/memory-again rw,relatime - cgroup cgroup rw,memory
91 80 0:32 /sub /mnt/memory-sub rw,relatime - cgroup cgroup rw,memory
"""


def test_systemd_manages_its_controllers_only() -> None:
    assert managed_hierarchies(MOUNTINFO) == [
        "/sys/fs/cgroup/cpu",
        "/sys/fs/cgroup/memory",
        "/sys/fs/cgroup/systemd",
        "/sys/fs/cgroup/unified",
    ]


def test_unit_object_paths_are_escaped_like_systemds() -> None:
    assert bus_path_escape("-.slice") == "_2d_2eslice"
    assert bus_path_escape("docker-ab1.scope") == "docker_2dab1_2escope"
    assert bus_path_escape("1a") == "_31a"


@pytest.fixture
def hierarchies(tmp_path: Path) -> list[str]:
    return [str(tmp_path / "memory"), str(tmp_path / "pids")]


def _props(slice_: str = "a-b.slice", **limits: int) -> list[tuple[str, tuple[str, object]]]:
    return unit_properties(ScopePath(slice_, "docker", "c1"), (4242,), Resources(**limits), unified=False)  # type: ignore[arg-type]


def test_start_makes_the_scope_moves_the_pids_and_applies_limits(hierarchies: list[str]) -> None:
    m = ScopeManager("/fake-root", hierarchies)
    assert m.get_unit("-.slice").cgroup == "/fake-root"
    scope = "/fake-root/a.slice/a-b.slice/docker-c1.scope"
    # knobs the kernel would offer in the memory and pids hierarchies
    for h, knob in zip(hierarchies, ("memory.limit_in_bytes", "pids.max"), strict=True):
        os.makedirs(h + scope)
        Path(h + scope, knob).write_text("")
    unit = m.start_transient("docker-c1.scope", "replace", _props(memory_limit=1 << 20, pids_limit=9))
    assert unit.cgroup == scope
    assert Path(hierarchies[0] + scope, "cgroup.procs").read_text() == "4242"
    assert Path(hierarchies[0] + scope, "memory.limit_in_bytes").read_text() == str(1 << 20)
    assert Path(hierarchies[1] + scope, "pids.max").read_text() == "9"
    assert m.unit_property(unit, "org.freedesktop.systemd1.Scope", "ControlGroup") == ("s", scope)
    assert m.unit_property(unit, "org.freedesktop.systemd1.Scope", "TasksMax") == ("t", 9)
    assert m.get_unit("a-b.slice").cgroup == "/fake-root/a.slice/a-b.slice"  # loaded with its first unit

    for h in hierarchies:  # the processes left
        Path(h + scope, "cgroup.procs").write_text("")
        for knob in ("memory.limit_in_bytes", "pids.max"):
            Path(h + scope, knob).unlink(missing_ok=True)
        os.unlink(h + scope + "/cgroup.procs")
    m.stop("docker-c1.scope")
    assert not any(os.path.exists(h + scope) for h in hierarchies)
    with pytest.raises(BusError) as info:
        m.get_unit("docker-c1.scope")
    assert info.value.name == "org.freedesktop.systemd1.NoSuchUnit"


def test_infinity_means_no_limit(hierarchies: list[str]) -> None:
    m = ScopeManager("/r", hierarchies)
    scope = "/r/system.slice/docker-c1.scope"
    os.makedirs(hierarchies[1] + scope)
    Path(hierarchies[1] + scope, "pids.max").write_text("")
    m.start_transient("docker-c1.scope", "replace", _props("system.slice", pids_limit=-1))
    assert Path(hierarchies[1] + scope, "pids.max").read_text() == "max"
    assert m.unit_property(m.get_unit("docker-c1.scope"), "org.freedesktop.systemd1.Scope", "TasksMax") == (
        "t",
        INFINITY,
    )


@pytest.mark.parametrize(
    ("name", "mode", "props", "error"),
    [
        ("x.scope", "sideways", [("PIDs", ("au", [1]))], "InvalidArgs"),
        ("x.service", "replace", [("PIDs", ("au", [1]))], "NotSupported"),
        ("x.scope", "replace", [("PIDs", ("au", []))], "InvalidArgs"),
        ("x.scope", "replace", [("PIDs", ("au", [1])), ("Frobnicate", ("b", True))], "PropertyReadOnly"),
        ("x.scope", "replace", [("PIDs", ("au", [1])), ("MemoryLimit", ("s", "1G"))], "InvalidArgs"),
        ("x.scope", "replace", [("PIDs", ("au", [1])), ("Slice", ("s", "bad--x.slice"))], "InvalidArgs"),
    ],
)
def test_start_refuses_what_systemd_refuses(
    hierarchies: list[str], name: str, mode: str, props: list[tuple[str, tuple[str, object]]], error: str
) -> None:
    m = ScopeManager("/r", hierarchies)
    with pytest.raises(BusError) as info:
        m.start_transient(name, mode, props)
    assert info.value.name.endswith(error)
    assert name not in m.units


def test_a_running_unit_cannot_be_started_twice(hierarchies: list[str]) -> None:
    m = ScopeManager("/r", hierarchies)
    m.start_transient("docker-c1.scope", "replace", _props("system.slice"))
    with pytest.raises(BusError) as info:
        m.start_transient("docker-c1.scope", "replace", _props("system.slice"))
    assert info.value.name == "org.freedesktop.systemd1.UnitExists"


def test_set_properties_changes_a_running_scopes_limits(hierarchies: list[str]) -> None:
    m = ScopeManager("/r", hierarchies)
    unit = m.start_transient("docker-c1.scope", "replace", _props("system.slice", pids_limit=5))
    Path(hierarchies[1] + unit.cgroup, "pids.max").write_text("5")
    m.set_properties("docker-c1.scope", [("TasksMax", ("t", 6))])
    assert Path(hierarchies[1] + unit.cgroup, "pids.max").read_text() == "6"
    assert m.unit_property(unit, "org.freedesktop.systemd1.Scope", "TasksMax") == ("t", 6)
    with pytest.raises(BusError) as info:  # a scope does not move
        m.set_properties("docker-c1.scope", [("Slice", ("s", "other.slice"))])
    assert info.value.name.endswith("PropertyReadOnly")
    with pytest.raises(BusError):
        m.set_properties("nope.scope", [("TasksMax", ("t", 6))])
