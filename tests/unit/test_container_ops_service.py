"""ContainerOps use cases against fakes of the container service, cgroup, host and ps."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from dockyard import errors
from dockyard.containers.store import ContainerRecord
from dockyard.engine.cgroups import KernelCgroupFiles
from dockyard.engine.container_ops import ContainerOps, KernelCgroupOpener
from dockyard.engine.stats import HostSample
from dockyard.testing.fake_cgroups import FakeCgroup


class FakeContainers:
    def __init__(self, *recs: ContainerRecord) -> None:
        self.recs = {r.id: r for r in recs}
        self.events: list[tuple[str, str, dict[str, str]]] = []

    def get(self, ref: str) -> ContainerRecord:
        for r in self.recs.values():
            if ref in (r.id, r.name):
                return r
        raise errors.ContainerNotFound(f"No such container: {ref}")

    def all(self) -> list[ContainerRecord]:
        return list(self.recs.values())

    def task_for(self, ref: str) -> Any:
        return object() if self.get(ref).state.running else None

    def update_record(self, rec: ContainerRecord) -> None:
        self.recs[rec.id] = rec

    def emit(self, rec: ContainerRecord, action: str, extra: Mapping[str, str] | None = None) -> None:
        self.events.append((rec.id, action, dict(extra or {})))


class FakeOpener:
    def __init__(self, cgroup: FakeCgroup) -> None:
        self.cgroup = cgroup

    def open(self, rec: ContainerRecord) -> FakeCgroup:
        return self.cgroup


class FakeHost:
    def __init__(self) -> None:
        self.cpu = 1_000_000_000

    def sample(self) -> HostSample:
        self.cpu += 1_000_000_000
        return HostSample(system_cpu_usage=self.cpu, online_cpus=2, machine_memory=1 << 30)

    def net_dev(self, pid: int) -> str | None:
        return None


class FakePs:
    """procps' behaviour that matters: ``-q`` cannot be combined with ``f``."""

    def __init__(self, output: str) -> None:
        self.output = output
        self.calls: list[list[str]] = []

    async def run(self, argv: list[str]) -> str:
        self.calls.append(argv)
        if "f" in argv and any(a.startswith("-q") for a in argv):
            raise errors.InvalidArgument("ps: error: conflicting process selections")
        return self.output


def _rec(cid: str, name: str, status: str = "running", **kw: Any) -> ContainerRecord:
    rec = ContainerRecord(
        id=cid, name=name, created="", image="busybox", image_id="sha256:x", config={}, host_config={}
    )
    return replace(rec, **kw).with_state(status=status, pid=42 if status in ("running", "paused") else 0)


def _ops(*recs: ContainerRecord, cgroup: FakeCgroup | None = None, ps: str = "") -> tuple[ContainerOps, FakeContainers]:
    containers = FakeContainers(*recs)
    cgroup = cgroup or FakeCgroup(1, {"freezer.state": "THAWED\n", "cgroup.procs": "42\n43\n"})
    ops = ContainerOps(containers, cgroups=FakeOpener(cgroup), host=FakeHost(), ps=FakePs(ps), stats_interval=0.01)
    return ops, containers


def test_pause_and_unpause() -> None:
    cgroup = FakeCgroup(1, {"freezer.state": "THAWED\n"}, freezing_reads=2)
    ops, cs = _ops(_rec("c1", "web"), cgroup=cgroup)
    asyncio.run(ops.pause("web"))
    assert cgroup.frozen and cs.get("c1").state.status == "paused"
    with pytest.raises(errors.Conflict):
        asyncio.run(ops.pause("web"))
    asyncio.run(ops.unpause("web"))
    assert not cgroup.frozen and cs.get("c1").state.status == "running"
    with pytest.raises(errors.Conflict):
        asyncio.run(ops.unpause("web"))
    assert [a for _, a, _ in cs.events] == ["pause", "unpause"]


def test_pause_needs_a_running_container() -> None:
    ops, _ = _ops(_rec("c1", "web", "exited"))
    with pytest.raises(errors.Conflict):
        asyncio.run(ops.pause("web"))


def test_thaw_for_signal_thaws_only_paused_containers() -> None:
    cgroup = FakeCgroup(1, {"freezer.state": "FROZEN\n"})
    ops, cs = _ops(_rec("c1", "web", "paused"), cgroup=cgroup)
    asyncio.run(ops.thaw_for_signal(cs.get("c1")))
    assert not cgroup.frozen and cs.get("c1").state.status == "running"
    n = len(cgroup.writes)
    asyncio.run(ops.thaw_for_signal(cs.get("c1")))
    assert len(cgroup.writes) == n  # nothing to do for a running one


def test_rename() -> None:
    ops, cs = _ops(_rec("c1", "old"), _rec("c2", "taken"))
    asyncio.run(ops.rename("old", "new"))
    assert cs.get("c1").name == "new"
    assert cs.events[-1] == ("c1", "rename", {"oldName": "/old"})
    with pytest.raises(errors.Conflict):
        asyncio.run(ops.rename("new", "taken"))
    with pytest.raises(errors.InvalidArgument):
        asyncio.run(ops.rename("new", "new"))
    with pytest.raises(errors.InvalidArgument):
        asyncio.run(ops.rename("new", ""))
    with pytest.raises(errors.InvalidArgument):
        asyncio.run(ops.rename("new", "bad name!"))


def test_update_running_container_writes_cgroup_and_stores() -> None:
    cgroup = FakeCgroup(1, {"memory.limit_in_bytes": "9223372036854771712\n", "pids.max": "max\n"})
    ops, cs = _ops(_rec("c1", "web"), cgroup=cgroup)
    warnings = asyncio.run(
        ops.update("web", {"Memory": 32 << 20, "PidsLimit": 10, "RestartPolicy": {"Name": "always"}})
    )
    assert warnings == []
    assert ("memory.limit_in_bytes", str(32 << 20)) in cgroup.writes and ("pids.max", "10") in cgroup.writes
    hc = cs.get("c1").host_config
    assert hc["Memory"] == 32 << 20 and hc["PidsLimit"] == 10
    assert hc["RestartPolicy"] == {"Name": "always", "MaximumRetryCount": 0}


def test_update_stopped_container_only_stores() -> None:
    cgroup = FakeCgroup(1, {"memory.limit_in_bytes": "1\n"})
    ops, cs = _ops(_rec("c1", "web", "exited"), cgroup=cgroup)
    asyncio.run(ops.update("web", {"Memory": 32 << 20}))
    assert cgroup.writes == [] and cs.get("c1").host_config["Memory"] == 32 << 20


def test_update_refused_by_kernel_changes_nothing_stored() -> None:
    cgroup = FakeCgroup(1, {"memory.limit_in_bytes": "1\n"})
    cgroup.refuse.add("memory.limit_in_bytes")
    ops, cs = _ops(_rec("c1", "web"), cgroup=cgroup)
    with pytest.raises(errors.InvalidArgument, match="Cannot update container c1"):
        asyncio.run(ops.update("web", {"Memory": 32 << 20}))
    assert "Memory" not in cs.get("c1").host_config


def test_top_filters_ps_by_cgroup_pids() -> None:
    ps = "UID PID PPID CMD\nroot 1 0 init\nroot 42 1 sleep 100\nroot 43 42 sh\n"
    ops, _ = _ops(_rec("c1", "web"), ps=ps)
    top = asyncio.run(ops.top("web", "-ef"))
    assert top["Titles"] == ["UID", "PID", "PPID", "CMD"]
    assert top["Processes"] == [["root", "42", "1", "sleep 100"], ["root", "43", "42", "sh"]]
    ps_runner = ops._ps
    assert isinstance(ps_runner, FakePs)
    assert ps_runner.calls[-1] == ["ps", "-ef", "-q42,43"]
    asyncio.run(ops.top("web", "f"))
    assert ps_runner.calls[-2:] == [["ps", "f", "-q42,43"], ["ps", "f"]]
    ops2, _ = _ops(_rec("c2", "down", "exited"))
    with pytest.raises(errors.Conflict):
        asyncio.run(ops2.top("down"))


def _collect(ops: ContainerOps, ref: str, n: int, **kw: Any) -> list[dict[str, Any]]:
    async def go() -> list[dict[str, Any]]:
        out = []
        async for frame in ops.stats(ref, **kw):
            out.append(frame)
            if len(out) == n:
                break
        return out

    return asyncio.run(go())


def test_stats_single_answer_is_primed_with_a_previous_sample() -> None:
    cgroup = FakeCgroup(1, {"cpuacct.usage": "100\n", "memory.usage_in_bytes": "4096\n"})
    ops, _ = _ops(_rec("c1", "web"), cgroup=cgroup)
    [frame] = _collect(ops, "web", 5, stream=False)
    assert frame["precpu_stats"]["system_cpu_usage"] < frame["cpu_stats"]["system_cpu_usage"]
    assert frame["preread"] != "0001-01-01T00:00:00Z" and frame["name"] == "/web"
    [one] = _collect(ops, "web", 5, stream=False, one_shot=True)
    assert "system_cpu_usage" not in one["precpu_stats"]  # one-shot: no previous sample


def test_stats_stream_chains_samples() -> None:
    ops, _ = _ops(_rec("c1", "web"))
    frames = _collect(ops, "web", 3, stream=True)
    assert len(frames) == 3
    assert frames[1]["precpu_stats"] == frames[0]["cpu_stats"]
    assert frames[2]["preread"] == frames[1]["read"]


def test_stats_of_stopped_container_is_empty() -> None:
    ops, _ = _ops(_rec("c1", "web", "exited"))
    [frame] = _collect(ops, "web", 5, stream=False)
    assert frame["memory_stats"] == {} and frame["id"] == "c1"
    with pytest.raises(errors.InvalidArgument):
        _collect(ops, "web", 1, stream=True, one_shot=True)


def test_kernel_opener_uses_the_bundles_cgroups_path(tmp_path: Path) -> None:
    mountinfo = "30 1 0:27 / /sys/fs/cgroup rw,relatime - cgroup2 cgroup2 rw\n"
    opener = KernelCgroupOpener("/dockyard", mountinfo=mountinfo)

    def path(rec: ContainerRecord, name: str) -> str | None:
        files = opener.open(rec)
        assert isinstance(files, KernelCgroupFiles)
        return files.file_path(name)

    rec = replace(_rec("c1", "web"), bundle=str(tmp_path), host_config={"CgroupParent": "/custom"})
    (tmp_path / "config.json").write_text(json.dumps({"linux": {"cgroupsPath": "/from/spec/c1"}}))
    assert path(rec, "memory.max") == "/sys/fs/cgroup/from/spec/c1/memory.max"
    (tmp_path / "config.json").unlink()  # no bundle (not running): HostConfig's parent, else the daemon's
    assert path(rec, "cpu.max") == "/sys/fs/cgroup/custom/c1/cpu.max"
    assert path(replace(rec, host_config={}), "cpu.max") == "/sys/fs/cgroup/dockyard/c1/cpu.max"
