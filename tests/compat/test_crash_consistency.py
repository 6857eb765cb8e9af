"""dockyardd killed (SIGKILL) in the middle of create and start, at several points,
then restarted: state is consistent, nothing half-made looks complete, nothing leaks."""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest

from dockyard.testing.daemon import DaemonProcess

pytestmark = [pytest.mark.compat, pytest.mark.root, pytest.mark.slow]


def docker(d: DaemonProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], env=d.env(), capture_output=True, text=True, timeout=60)


def mounts_under(root: str) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f if line.split()[4].startswith(root + "/")]


def processes_mentioning(root: str) -> list[int]:
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    if root.encode() in f.read():
                        found.append(int(pid))
            except OSError:
                pass
    return found


def _logs_show(d: DaemonProcess, name: str, text: str, timeout: float = 20) -> bool:
    """Whether ``text`` shows up in the logs: the command writes it shortly after start returns."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in docker(d, "logs", name).stdout:
            return True
        time.sleep(0.1)
    return False


def restart_at(d: DaemonProcess, point: str) -> None:
    d.stop()
    d.start(env={"DOCKYARD_FAILPOINT": point})


@pytest.mark.parametrize(
    "point", ["create:after-snapshot", "start:after-mount", "start:after-create", "start:after-start"]
)
def test_crash_during_create_or_start(own_daemon: DaemonProcess, point: str) -> None:
    d = own_daemon
    restart_at(d, point)
    r = docker(d, "run", "-d", "--name", "victim", "busybox", "sh", "-c", "echo alive; sleep 100")
    assert r.returncode != 0  # the daemon died under the request
    assert d.wait_exit() is not None
    d.start()
    daemon_pid = d.proc.pid if d.proc else 0
    listing = docker(d, "ps", "-a", "--format", "{{.Names}} {{.State}}").stdout.split("\n")
    victims = [line for line in listing if line.startswith("victim ")]
    if point == "create:after-snapshot":
        assert victims == []  # never became a container
    else:
        assert victims == ["victim created"]
        info = json.loads(docker(d, "inspect", "victim").stdout)[0]
        assert info["State"]["Running"] is False
        # no shim or container process survives for it; only the daemon (and its spare shim) mention the root
        leftovers = [p for p in processes_mentioning(d.root) if p != daemon_pid]
        for pid in leftovers:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                assert b"spare" in f.read(), "a shim of the crashed start is still running"
        assert docker(d, "start", "victim").returncode == 0
        assert _logs_show(d, "victim", "alive")
        assert docker(d, "rm", "-f", "victim").returncode == 0
    assert mounts_under(d.data_root) == []
    assert mounts_under(d.exec_root) == []
    containers_dir = os.path.join(d.data_root, "containers")
    assert [n for n in os.listdir(containers_dir) if len(n) == 64] == []


@pytest.mark.parametrize("point", ["exec:after-create", "exec:after-start"])
def test_crash_during_exec(own_daemon: DaemonProcess, point: str) -> None:
    d = own_daemon
    assert docker(d, "run", "-d", "--name", "host", "busybox", "sh", "-c", "echo up; sleep 100").returncode == 0
    restart_at(d, point)
    r = docker(d, "exec", "host", "sh", "-c", "echo from-exec; sleep 0.3")
    assert r.returncode != 0
    assert d.wait_exit() is not None
    d.start()
    info = json.loads(docker(d, "inspect", "host").stdout)[0]
    assert info["State"]["Running"] is True  # the container itself is untouched
    assert not info["ExecIDs"]  # no half-made exec is shown as one
    r = docker(d, "exec", "host", "echo", "again")
    assert r.returncode == 0 and r.stdout == "again\n"
    assert "from-exec" not in docker(d, "logs", "host").stdout  # exec output never goes to the log
    assert docker(d, "stop", "-t", "1", "host").returncode == 0
    assert json.loads(docker(d, "inspect", "host").stdout)[0]["State"]["Status"] == "exited"
    assert mounts_under(d.exec_root) == []
