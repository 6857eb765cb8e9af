"""The systemd cgroup driver against a fake systemd on a private system bus.

The fake (``dockyard.testing.fake_systemd``) owns org.freedesktop.systemd1 on a
``dbus-daemon`` of this test's own and makes scopes below a cgroup the test owns.
The runtime runs as the shim runs it: a lean interpreter (``python -S -I``), so it must
find jeepney without site-packages on its path.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from dockyard.runtime.defaultspec import default_spec
from dockyard.runtime.linux.cgroups import detect_layout
from dockyard.testing.daemon import DaemonProcess, cleanup_cgroups
from dockyard.testing.fake_systemd import FakeSystemd, PrivateSystemBus

from .shim_bundle import make_busybox_rootfs

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (cgroups, namespaces)"),
    pytest.mark.skipif(shutil.which("dbus-daemon") is None, reason="needs dbus-daemon (apt: dbus-daemon)"),
    pytest.mark.skipif(not os.path.exists("/bin/busybox"), reason="needs busybox-static"),
    pytest.mark.timeout(180),
]

jeepney = pytest.importorskip("jeepney", reason="the systemd driver talks D-Bus through jeepney")

SRC = os.path.dirname(os.path.dirname(os.path.abspath(sys.modules["dockyard"].__file__ or "")))
# The shim's way of running the built-in runtime: no site-packages, no PYTHON* variables.
LEAN_RUNTIME = [
    sys.executable,
    "-S",
    "-I",
    "-c",
    "import sys;sys.path.insert(0,sys.argv[1]);"
    "from dockyard.runtime.cli import main;raise SystemExit(main(sys.argv[2:]))",
    SRC,
]
SYSTEMD = "org.freedesktop.systemd1"
SYSTEMD_PATH = "/org/freedesktop/systemd1"
# Stands in for the shim: a child subreaper that runs `create` and reaps the container's init.
MINI_SHIM = r"""
import ctypes, os, subprocess, sys
ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
rc = subprocess.call(sys.argv[1:])
if rc != 0:
    sys.exit(rc)
while True:
    try:
        os.wait()
    except ChildProcessError:
        break
"""


@pytest.fixture(scope="module")
def systemd() -> Iterator[FakeSystemd]:
    """A private system bus with the fake systemd on it; everything is stopped and removed afterwards."""
    bus = PrivateSystemBus()
    fake: FakeSystemd | None = None
    try:
        address = bus.start()
        fake = FakeSystemd(address, f"/dockyard-test-systemd-{secrets.token_hex(3)}")
        fake.start()
        yield fake
    finally:
        if fake is not None:
            fake.stop()
        bus.stop()


def wait_for(cond: Callable[[], bool], timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def hierarchies() -> dict[str, str]:
    """Hierarchy name -> mount point ("" is the unified one on a pure v2 host)."""
    layout = detect_layout()
    if layout.unified:
        return {"": layout.unified}
    return dict(layout.v1)


def mount_of(controller: str) -> str:
    for name, mp in hierarchies().items():
        if controller in name.split(",") or name == "":
            return mp
    raise AssertionError(f"no {controller} hierarchy")


def read(path: str) -> str:
    with open(path) as f:
        return f.read().strip()


def proc_cgroups(pid: int) -> dict[str, str]:
    """/proc/<pid>/cgroup as hierarchy (controllers) -> path."""
    out = {}
    for line in read(f"/proc/{pid}/cgroup").splitlines():
        _, controllers, path = line.split(":", 2)
        out[controllers] = path
    return out


class Systemd:
    """A D-Bus client of the (fake) systemd, to read back what the runtime asked for."""

    def __init__(self, address: str) -> None:
        from jeepney.io.blocking import open_dbus_connection

        self.conn = open_dbus_connection(bus=address)
        self.manager = jeepney.DBusAddress(SYSTEMD_PATH, bus_name=SYSTEMD, interface=f"{SYSTEMD}.Manager")

    def close(self) -> None:
        self.conn.close()

    def unit_path(self, unit: str) -> str | None:
        reply = self.conn.send_and_get_reply(jeepney.new_method_call(self.manager, "GetUnit", "s", (unit,)), timeout=10)
        if reply.header.message_type == jeepney.MessageType.error:
            assert reply.header.fields[jeepney.HeaderFields.error_name] == "org.freedesktop.systemd1.NoSuchUnit"
            return None
        return str(reply.body[0])

    def prop(self, unit: str, name: str) -> Any:
        path = self.unit_path(unit)
        assert path is not None, f"{unit} is not loaded"
        props = jeepney.DBusAddress(path, bus_name=SYSTEMD, interface="org.freedesktop.DBus.Properties")
        msg = jeepney.new_method_call(props, "Get", "ss", (f"{SYSTEMD}.Scope", name))
        reply = self.conn.send_and_get_reply(msg, timeout=10)
        assert reply.header.message_type == jeepney.MessageType.method_return, reply.body
        return reply.body[0][1]


@pytest.fixture
def sd_client(systemd: FakeSystemd) -> Iterator[Systemd]:
    client = Systemd(systemd.bus_address)
    yield client
    client.close()


class Bundle:
    """A busybox bundle run through the lean runtime under a mini shim; cleanup() undoes everything."""

    def __init__(self, base: str, env: dict[str, str]) -> None:
        self.dir = tempfile.mkdtemp(prefix="sdbundle-", dir=base)
        self.state = os.path.join(self.dir, "state")
        self.id = f"t{secrets.token_hex(5)}"
        self.env = env
        self.shim: subprocess.Popen[bytes] | None = None
        make_busybox_rootfs(os.path.join(self.dir, "rootfs"))
        os.chmod(self.dir, 0o755)

    def write_spec(self, cgroups_path: str, resources: dict[str, Any]) -> None:
        spec = default_spec(["sleep", "1000"], rootfs=os.path.join(self.dir, "rootfs"), cgroups_path=cgroups_path)
        spec["linux"]["resources"].update(resources)
        with open(os.path.join(self.dir, "config.json"), "w") as f:
            json.dump(spec, f)

    def runtime(self, *args: str, systemd: bool = True) -> subprocess.CompletedProcess[str]:
        flags = ["--systemd-cgroup"] if systemd else []
        return subprocess.run(
            [*LEAN_RUNTIME, *flags, "--root", self.state, *args],
            capture_output=True,
            text=True,
            timeout=60,
            env=self.env,
            stdin=subprocess.DEVNULL,
        )

    def create(self, systemd: bool = True) -> int:
        pid_file = os.path.join(self.dir, "init.pid")
        flags = ["--systemd-cgroup"] if systemd else []
        cmd = [*LEAN_RUNTIME, *flags, "--root", self.state, "create", "--bundle", self.dir, "--pid-file", pid_file]
        self.shim = subprocess.Popen(
            [sys.executable, "-c", MINI_SHIM, *cmd, self.id],
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        shim = self.shim
        wait_for(lambda: os.path.exists(pid_file) or shim.poll() is not None, what="create")
        if not os.path.exists(pid_file):
            _, err = shim.communicate(timeout=20)
            raise AssertionError(f"create failed ({shim.returncode}): {err.decode()}")
        return int(read(pid_file))

    def cleanup(self) -> None:
        self.runtime("delete", "--force", self.id)
        if self.shim is not None:
            if self.shim.poll() is None:
                self.shim.kill()
            self.shim.communicate(timeout=20)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def bundle(tmp_path: Any, systemd: FakeSystemd) -> Iterator[Bundle]:
    b = Bundle(str(tmp_path), {**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": systemd.bus_address})
    yield b
    b.cleanup()


def test_runtime_makes_a_scope_with_the_limits_and_stops_it_at_delete(
    systemd: FakeSystemd, sd_client: Systemd, bundle: Bundle
) -> None:
    unit = f"docker-{bundle.id}.scope"
    bundle.write_spec(
        f"dockyardtest-sd.slice:docker:{bundle.id}",
        {"memory": {"limit": 64 << 20}, "pids": {"limit": 77}, "cpu": {"quota": 25000, "period": 100000, "cpus": "0"}},
    )
    pid = bundle.create()
    # where systemd puts a unit: its root, the slice's ancestors, the unit
    scope = f"{systemd.root}/dockyardtest.slice/dockyardtest-sd.slice/{unit}"
    assert sd_client.prop(unit, "ControlGroup") == scope
    # the init is in the scope in every hierarchy: those systemd made and those the runtime added (cpuset …)
    for name, path in proc_cgroups(pid).items():
        if name in hierarchies() or (name == "" and "" in hierarchies()):
            assert path == scope, (name, path)
    assert str(pid) in read(f"{mount_of('memory')}{scope}/cgroup.procs").split()
    # the limits: what systemd was asked for, and what the cgroup files say
    assert sd_client.prop(unit, "Slice") == "dockyardtest-sd.slice"
    assert sd_client.prop(unit, "Delegate") is True
    assert sd_client.prop(unit, "TasksMax") == 77
    assert sd_client.prop(unit, "CPUQuotaPerSecUSec") == 250000
    assert read(f"{mount_of('pids')}{scope}/pids.max") == "77"
    if "" in hierarchies():
        assert sd_client.prop(unit, "MemoryMax") == 64 << 20
        assert read(f"{mount_of('memory')}{scope}/memory.max") == str(64 << 20)
        assert read(f"{mount_of('cpu')}{scope}/cpu.max") == "25000 100000"
    else:
        assert sd_client.prop(unit, "MemoryLimit") == 64 << 20
        assert read(f"{mount_of('memory')}{scope}/memory.limit_in_bytes") == str(64 << 20)
        assert read(f"{mount_of('cpu')}{scope}/cpu.cfs_quota_us") == "25000"
        assert read(f"{mount_of('cpuset')}{scope}/cpuset.cpus") == "0"

    assert bundle.runtime("start", bundle.id).returncode == 0
    # update: systemd keeps the new limits too (it would otherwise put the old ones back)
    result = bundle.runtime("update", "--pids-limit", "55", "--memory", "32m", bundle.id)
    assert result.returncode == 0, result.stderr
    assert sd_client.prop(unit, "TasksMax") == 55
    assert sd_client.prop(unit, "MemoryMax" if "" in hierarchies() else "MemoryLimit") == 32 << 20
    assert read(f"{mount_of('pids')}{scope}/pids.max") == "55"
    assert bundle.runtime("kill", bundle.id, "KILL").returncode == 0
    result = bundle.runtime("delete", bundle.id)
    if result.returncode != 0:  # the init may not be reaped yet: a stopped container only deletes once dead
        wait_for(lambda: bundle.runtime("delete", bundle.id).returncode == 0, what="delete")
    assert sd_client.unit_path(unit) is None
    for mp in hierarchies().values():
        assert not os.path.exists(mp + scope), mp


def test_a_taken_scope_name_fails_create_and_leaves_the_owner_alone(
    tmp_path: Any, systemd: FakeSystemd, sd_client: Systemd, bundle: Bundle
) -> None:
    shared = f"system.slice:docker:shared{bundle.id}"
    bundle.write_spec(shared, {})
    owner_pid = bundle.create()
    other = Bundle(str(tmp_path), bundle.env)
    try:
        other.write_spec(shared, {})
        with pytest.raises(AssertionError, match="already exists"):
            other.create()
        assert not os.path.exists(os.path.join(other.state, other.id))
    finally:
        other.cleanup()
    assert sd_client.unit_path(f"docker-shared{bundle.id}.scope") is not None
    assert os.path.exists(f"/proc/{owner_pid}")
    assert str(owner_pid) in read(
        f"{mount_of('pids')}{systemd.root}/system.slice/docker-shared{bundle.id}.scope/cgroup.procs"
    )


def test_runtime_refuses_a_cgroupfs_path_with_the_systemd_flag(bundle: Bundle) -> None:
    bundle.write_spec("/dockyard-test/not-a-slice", {})
    result = bundle.runtime("create", "--bundle", bundle.dir, bundle.id)
    assert result.returncode == 1
    assert "slice:prefix:name" in result.stderr
    assert not os.path.exists(os.path.join(bundle.state, bundle.id))


def test_runtime_reports_an_unreachable_systemd(tmp_path: Any) -> None:
    b = Bundle(str(tmp_path), {**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": f"unix:path={tmp_path}/no-bus"})
    try:
        b.write_spec(f"system.slice:docker:{b.id}", {})
        result = b.runtime("create", "--bundle", b.dir, b.id)
        assert result.returncode == 1
        assert "cannot connect to systemd" in result.stderr
        assert not os.path.exists(os.path.join(b.state, b.id))
    finally:
        b.cleanup()


def test_runtime_without_the_flag_keeps_cgroupfs(systemd: FakeSystemd, sd_client: Systemd, bundle: Bundle) -> None:
    slice_ = f"dockyardtest{secrets.token_hex(3)}.slice"
    try:
        bundle.write_spec(f"{slice_}:docker:{bundle.id}", {"pids": {"limit": 33}})
        pid = bundle.create(systemd=False)
        path = f"/{slice_}/docker-{bundle.id}.scope"  # the plain mapping, below the hierarchies' roots
        assert read(f"{mount_of('pids')}{path}/pids.max") == "33"
        assert str(pid) in read(f"{mount_of('pids')}{path}/cgroup.procs").split()
        assert sd_client.unit_path(f"docker-{bundle.id}.scope") is None
        bundle.runtime("delete", "--force", bundle.id, systemd=False)
        assert not os.path.exists(f"{mount_of('pids')}{path}")
    finally:
        bundle.runtime("delete", "--force", bundle.id, systemd=False)
        cleanup_cgroups(slice_)


# --- the daemon ------------------------------------------------------------------------------


@pytest.fixture
def systemd_daemon(systemd: FakeSystemd) -> Iterator[DaemonProcess]:
    d = DaemonProcess(config={"exec-opts": ["native.cgroupdriver=systemd"], "cgroup-parent": ""})
    try:
        d.start(env={"DBUS_SYSTEM_BUS_ADDRESS": systemd.bus_address})
        status, body = d.request("POST", "/dockyard/images/bootstrap?kind=busybox&tag=busybox:latest", timeout=120)
        assert status == 200, body
        yield d
    finally:
        d.destroy()


def _run(d: DaemonProcess, host_config: dict[str, Any]) -> tuple[str, int]:
    status, body = d.request(
        "POST", "/containers/create", {"Image": "busybox", "Cmd": ["sleep", "1000"], "HostConfig": host_config}
    )
    assert status == 201, body
    cid = body["Id"]
    status, body = d.request("POST", f"/containers/{cid}/start")
    assert status == 204, body
    status, body = d.request("GET", f"/containers/{cid}/json")
    assert status == 200, body
    return cid, int(body["State"]["Pid"])


@pytest.mark.compat
def test_daemon_runs_containers_in_systemd_scopes(
    systemd: FakeSystemd, sd_client: Systemd, systemd_daemon: DaemonProcess
) -> None:
    d = systemd_daemon
    status, info = d.request("GET", "/info")
    assert status == 200 and info["CgroupDriver"] == "systemd"

    status, body = d.request(
        "POST", "/containers/create", {"Image": "busybox", "Cmd": ["true"], "HostConfig": {"CgroupParent": "/foo"}}
    )
    assert status == 400
    assert body["message"] == 'cgroup-parent for systemd cgroup should be a valid slice named as "xxx.slice"'

    cid, pid = _run(d, {"Memory": 48 << 20, "PidsLimit": 40})
    unit = f"docker-{cid}.scope"
    scope = f"{systemd.root}/system.slice/{unit}"  # the default parent
    assert sd_client.prop(unit, "ControlGroup") == scope
    assert sd_client.prop(unit, "TasksMax") == 40
    assert str(pid) in read(f"{mount_of('memory')}{scope}/cgroup.procs").split()
    memory_file = "memory.max" if "" in hierarchies() else "memory.limit_in_bytes"
    assert read(f"{mount_of('memory')}{scope}/{memory_file}") == str(48 << 20)
    # stats and update find the scope too
    status, stats = d.request("GET", f"/containers/{cid}/stats?stream=0")
    assert status == 200 and stats["memory_stats"]["limit"] == 48 << 20, stats
    status, body = d.request("POST", f"/containers/{cid}/update", {"PidsLimit": 60})
    assert status == 200, body
    assert read(f"{mount_of('pids')}{scope}/pids.max") == "60"
    assert sd_client.prop(unit, "TasksMax") == 60  # systemd keeps the new limit too

    other, other_pid = _run(d, {"CgroupParent": "dockyardtest.slice"})
    other_scope = f"{systemd.root}/dockyardtest.slice/docker-{other}.scope"
    assert str(other_pid) in read(f"{mount_of('pids')}{other_scope}/cgroup.procs").split()

    for c, u, s in ((cid, unit, scope), (other, f"docker-{other}.scope", other_scope)):
        status, body = d.request("DELETE", f"/containers/{c}?force=1")
        assert status == 204, body
        assert sd_client.unit_path(u) is None
        for mp in hierarchies().values():
            assert not os.path.exists(mp + s), mp


@pytest.mark.compat
def test_scopes_outlive_a_daemon_restart(
    systemd: FakeSystemd, sd_client: Systemd, systemd_daemon: DaemonProcess
) -> None:
    d = systemd_daemon
    cid, pid = _run(d, {})
    unit = f"docker-{cid}.scope"
    d.stop()  # live restore: the container and its scope stay
    assert sd_client.unit_path(unit) is not None and os.path.exists(f"/proc/{pid}")
    d.start(env={"DBUS_SYSTEM_BUS_ADDRESS": systemd.bus_address})
    status, body = d.request("DELETE", f"/containers/{cid}?force=1")
    assert status == 204, body
    assert sd_client.unit_path(unit) is None


def _refused(config: dict[str, Any], env: dict[str, str]) -> str:
    d = DaemonProcess(config=config)
    try:
        with pytest.raises(RuntimeError) as info:
            d.start(env=env)
        return str(info.value)
    finally:
        d.destroy()


@pytest.mark.compat
def test_daemon_refuses_the_systemd_driver_when_no_systemd_answers() -> None:
    bus = PrivateSystemBus()  # a system bus where nothing owns org.freedesktop.systemd1
    try:
        address = bus.start()
        log = _refused(
            {"exec-opts": ["native.cgroupdriver=systemd"], "cgroup-parent": ""}, {"DBUS_SYSTEM_BUS_ADDRESS": address}
        )
    finally:
        bus.stop()
    assert "needs systemd" in log and "org.freedesktop.systemd1" in log


@pytest.mark.compat
def test_daemon_refuses_unknown_exec_opts_and_a_non_slice_parent() -> None:
    assert "native.cgroupdriver option lxc not supported" in _refused({"exec-opts": ["native.cgroupdriver=lxc"]}, {})
    assert "unknown exec-opt" in _refused({"exec-opts": ["native.foo=bar"]}, {})
    assert "should be a valid slice" in _refused({"exec-opts": ["native.cgroupdriver=systemd"]}, {})


@pytest.mark.compat
@pytest.mark.skipif(shutil.which("docker") is None, reason="the docker CLI is not installed")
def test_docker_cli_with_the_systemd_driver(
    systemd: FakeSystemd, sd_client: Systemd, systemd_daemon: DaemonProcess
) -> None:
    def docker(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["docker", *args], env=systemd_daemon.env(), capture_output=True, text=True, timeout=60, check=False
        )

    assert docker("info", "--format", "{{.CgroupDriver}}").stdout.strip() == "systemd"
    bad = docker("run", "--rm", "--cgroup-parent", "/foo", "busybox", "true")
    assert bad.returncode != 0 and 'should be a valid slice named as "xxx.slice"' in bad.stderr
    run = docker(
        "run", "-d", "--memory", "32m", "--cgroup-parent", "dockyardtest-cli.slice", "busybox", "sleep", "1000"
    )
    assert run.returncode == 0, run.stderr
    cid = run.stdout.strip()
    try:
        scope = f"{systemd.root}/dockyardtest.slice/dockyardtest-cli.slice/docker-{cid}.scope"
        assert sd_client.prop(f"docker-{cid}.scope", "ControlGroup") == scope
        pid = int(docker("inspect", "--format", "{{.State.Pid}}", cid).stdout)
        assert proc_cgroups(pid).get("memory", proc_cgroups(pid).get("")) == scope
        # exec joins the scope; the container's /sys/fs/cgroup shows it (mounted once systemd had made it)
        own = docker("exec", cid, "cat", "/proc/self/cgroup")
        assert own.returncode == 0, own
        if "" not in hierarchies():  # v1: the host's cgroup namespace (v2 gives containers their own)
            assert scope in own.stdout, own
        knob = "/sys/fs/cgroup/memory.max" if "" in hierarchies() else "/sys/fs/cgroup/memory/memory.limit_in_bytes"
        assert docker("exec", cid, "cat", knob).stdout.strip() == str(32 << 20)
    finally:
        assert docker("rm", "-f", cid).returncode == 0
    assert sd_client.unit_path(f"docker-{cid}.scope") is None
    assert not any(os.path.exists(mp + scope) for mp in hierarchies().values())
