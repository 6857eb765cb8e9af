"""The runtime's v2 cgroup manager on a real unified hierarchy: lifecycle, freezing, and the limits it can set here.

On hybrid hosts the unified hierarchy is mounted beside the v1 ones and holds
only the controllers v1 doesn't (often none or hugetlb); limits whose controller
is missing are skipped with that reason, the rest runs for real.
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Iterator

import pytest

from dockyard.runtime.linux.cgroups import V2Cgroups, manager_from_paths
from dockyard.runtime.spec import Resources, parse_resources

pytestmark = [pytest.mark.root]


def _unified_mount() -> str:
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            sep = fields.index("-")
            if fields[sep + 1] == "cgroup2":
                return fields[4]
    return ""


@pytest.fixture
def v2_root() -> str:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    mount = _unified_mount()
    if not mount:
        pytest.skip("no cgroup v2 hierarchy is mounted")
    return mount


@pytest.fixture
def cgroup(v2_root: str) -> Iterator[V2Cgroups]:
    path = os.path.join(v2_root, "dockyard-isolation-test", uuid.uuid4().hex[:12])
    mgr = V2Cgroups(path, v2_root)
    yield mgr
    for pid in mgr.pids():
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 10
    while mgr.pids() and time.monotonic() < deadline:
        time.sleep(0.02)
    if os.path.isdir(path):
        if mgr.frozen():
            mgr.thaw()
        mgr.destroy()
    parent = os.path.dirname(path)
    try:
        os.rmdir(parent)
    except OSError:
        pass  # another test's cgroup is still there


def controllers(v2_root: str) -> set[str]:
    with open(os.path.join(v2_root, "cgroup.controllers")) as f:
        return set(f.read().split())


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(["sleep", "60"])
    yield proc
    proc.kill()
    proc.wait()


def test_create_join_freeze_thaw_destroy(cgroup: V2Cgroups, sleeper: subprocess.Popen[bytes]) -> None:
    cgroup.create(Resources())
    cgroup.join(sleeper.pid)
    assert cgroup.pids() == [sleeper.pid]
    assert manager_from_paths(cgroup.paths).pids() == [sleeper.pid]  # rebuilt from the state file's paths
    cgroup.freeze()
    assert cgroup.frozen()
    cgroup.thaw()
    assert not cgroup.frozen()
    sleeper.kill()
    sleeper.wait()
    deadline = time.monotonic() + 10
    while cgroup.pids():
        assert time.monotonic() < deadline
        time.sleep(0.02)
    cgroup.destroy()
    assert not os.path.exists(cgroup.paths[""])


@pytest.mark.parametrize(
    ("controller", "resources", "file", "want"),
    [
        ("pids", {"pids": {"limit": 20}}, "pids.max", "20"),
        ("memory", {"memory": {"limit": 64 << 20, "reservation": 32 << 20}}, "memory.max", str(64 << 20)),
        ("cpu", {"cpu": {"quota": 50000, "period": 100000}}, "cpu.max", "50000 100000"),
        ("hugetlb", {"hugepageLimits": [{"pageSize": "2MB", "limit": 4 << 20}]}, "hugetlb.2MB.max", str(4 << 20)),
    ],
    ids=["pids", "memory", "cpu", "hugetlb"],
)
def test_limits_on_the_real_hierarchy(
    v2_root: str, cgroup: V2Cgroups, controller: str, resources: dict[str, object], file: str, want: str
) -> None:
    if controller not in controllers(v2_root):
        pytest.skip(f"the {controller} controller is not available on this v2 hierarchy (bound to v1 here)")
    cgroup.create(parse_resources(resources))
    with open(os.path.join(cgroup.paths[""], file)) as f:
        assert f.read().strip() == want
    # update: a changed limit is written live
    if controller == "pids":
        cgroup.apply(parse_resources({"pids": {"limit": 40}}))
        with open(os.path.join(cgroup.paths[""], file)) as f:
            assert f.read().strip() == "40"


def _readable_block_device() -> str:
    for name in sorted(os.listdir("/sys/class/block")):
        try:
            with open(f"/dev/{name}", "rb") as f:
                f.read(1)
            return f"/dev/{name}"
        except OSError:
            continue
    pytest.skip("no block device the host can read")


def test_device_filter_program_is_enforced(cgroup: V2Cgroups) -> None:
    # The eBPF device program needs no controller: it works on any v2 cgroup, hybrid hosts included.
    disk = _readable_block_device()
    rules = [{"allow": False, "access": "rwm"}, {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"}]
    try:
        cgroup.create(parse_resources({"devices": rules}))
    except OSError as e:
        pytest.skip(f"this kernel refuses cgroup device programs: {e}")
    procs = os.path.join(cgroup.paths[""], "cgroup.procs")
    script = (
        f"echo $$ > {procs};"
        " head -c1 /dev/null && echo null-read;"
        f" head -c1 {disk} > /dev/null 2>&1 && echo disk-read;"
        " true"
    )
    r = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=30)
    # The same read works from the test itself (checked above): the program is what refuses it.
    assert r.stdout.split() == ["null-read"], r.stdout + r.stderr
