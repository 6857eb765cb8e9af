"""dockyardd killed (SIGKILL) in the middle of a commit or a copy from a stopped container, then
restarted: no half-made image is visible, nothing is left mounted or in the ingest area, and the
container can be committed again."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator

import pytest

from dockyard.testing.daemon import DaemonProcess

pytestmark = [pytest.mark.compat, pytest.mark.root, pytest.mark.slow]


@pytest.fixture(scope="module")
def own_daemon() -> Iterator[DaemonProcess]:
    d = DaemonProcess()
    try:
        d.start()
        status, body = d.request("POST", "/dockyard/images/bootstrap?kind=busybox&tag=busybox:latest", timeout=120)
        assert status == 200, body
        yield d
    finally:
        d.destroy()


@pytest.fixture
def crashing(own_daemon: DaemonProcess) -> Iterator[DaemonProcess]:
    yield own_daemon
    if own_daemon.proc is None or own_daemon.proc.poll() is not None:
        own_daemon.start()
    own_daemon.remove_all_containers()


def docker(d: DaemonProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], env=d.env(), capture_output=True, text=True, timeout=120)


def ok(d: DaemonProcess, *args: str) -> str:
    r = docker(d, *args)
    assert r.returncode == 0, (args, r.stderr)
    return r.stdout


def mounts_under(root: str) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f if line.split()[4].startswith(root + "/")]


def crash_at(d: DaemonProcess, point: str) -> None:
    d.stop()
    d.start(env={"DOCKYARD_FAILPOINT": point})


@pytest.mark.parametrize("point", ["commit:paused", "commit:after-layer", "commit:after-register"])
def test_crash_during_commit(crashing: DaemonProcess, point: str) -> None:
    d = crashing
    crash_at(d, point)
    ok(d, "run", "-d", "--name", "cvictim", "busybox", "sh", "-c", "echo kept > /kept; sleep 300")
    for _ in range(100):
        if docker(d, "cp", "cvictim:/kept", "-").returncode == 0:
            break
        subprocess.run(["sleep", "0.1"], check=True)
    r = docker(d, "commit", "cvictim", "crashimg:1")
    assert r.returncode != 0  # the daemon died under the request
    assert d.wait_exit() is not None
    d.start()
    exists = docker(d, "image", "inspect", "crashimg:1").returncode == 0
    # only a fully registered image may be visible, and then it is complete
    assert exists == (point == "commit:after-register")
    if exists:
        assert ok(d, "run", "--rm", "crashimg:1", "cat", "/kept") == "kept\n"
    assert os.listdir(os.path.join(d.data_root, "content", "ingest")) == []
    state = json.loads(ok(d, "inspect", "cvictim"))[0]["State"]
    assert state["Running"] is True  # the container outlived the daemon
    if state["Paused"]:  # frozen by the commit that died: still controllable
        ok(d, "unpause", "cvictim")
    ok(d, "commit", "cvictim", "crashimg:2")
    assert ok(d, "run", "--rm", "crashimg:2", "cat", "/kept") == "kept\n"
    assert json.loads(ok(d, "inspect", "cvictim"))[0]["State"]["Paused"] is False
    ok(d, "rm", "-f", "cvictim")
    docker(d, "rmi", "-f", "crashimg:1")
    ok(d, "rmi", "-f", "crashimg:2")


def test_crash_while_a_stopped_container_is_mounted_for_cp(crashing: DaemonProcess) -> None:
    d = crashing
    crash_at(d, "fs:view-mounted")
    ok(d, "run", "--name", "cpvictim", "busybox", "sh", "-c", "echo x > /x")
    r = docker(d, "cp", "cpvictim:/x", "-")
    assert r.returncode != 0
    assert d.wait_exit() is not None
    assert [m for m in mounts_under(d.exec_root) if "/fsviews/" in m]  # the crash left the view mounted
    d.start()
    assert [m for m in mounts_under(d.exec_root) if "/fsviews/" in m] == []  # swept at start
    assert "x\n" in docker(d, "cp", "cpvictim:/x", "-").stdout
    assert [m for m in mounts_under(d.exec_root) if "/fsviews/" in m] == []
    ok(d, "rm", "cpvictim")
