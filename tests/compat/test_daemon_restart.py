"""dockyardd killed with SIGKILL and restarted: its containers are found again."""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from dockyard.testing.daemon import DaemonProcess

pytestmark = [pytest.mark.compat, pytest.mark.root, pytest.mark.slow]


def docker(d: DaemonProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], env=d.env(), capture_output=True, text=True, timeout=60)


def test_sigkill_restart_keeps_running_container(own_daemon: DaemonProcess) -> None:
    d = own_daemon
    r = docker(
        d,
        "run",
        "-d",
        "--name",
        "survivor",
        "busybox",
        "sh",
        "-c",
        "i=0; trap 'echo term; exit 0' TERM; while true; do echo tick $i; i=$((i+1)); sleep 0.1; done",
    )
    assert r.returncode == 0, r.stderr
    time.sleep(0.5)
    d.kill9()
    time.sleep(0.5)  # the container keeps writing while no daemon runs
    d.start()
    info = json.loads(docker(d, "inspect", "survivor").stdout)[0]
    assert info["State"]["Running"] is True
    assert docker(d, "stop", "survivor").returncode == 0
    info = json.loads(docker(d, "inspect", "survivor").stdout)[0]
    assert info["State"]["Status"] == "exited"
    assert info["State"]["ExitCode"] == 0
    lines = docker(d, "logs", "survivor").stdout.splitlines()
    ticks = [int(x.split()[1]) for x in lines if x.startswith("tick")]
    assert ticks == list(range(len(ticks))) and len(ticks) >= 8  # nothing lost, also while the daemon was down
    assert lines[-1] == "term"


def test_exit_while_daemon_down_is_recorded(own_daemon: DaemonProcess) -> None:
    d = own_daemon
    r = docker(d, "run", "-d", "--name", "quick", "busybox", "sh", "-c", "sleep 1; echo done; exit 4")
    assert r.returncode == 0, r.stderr
    d.kill9()
    time.sleep(2)
    d.start()
    info = json.loads(docker(d, "inspect", "quick").stdout)[0]
    assert info["State"]["Status"] == "exited"
    assert info["State"]["ExitCode"] == 4
    assert docker(d, "logs", "quick").stdout == "done\n"


def test_second_daemon_on_same_data_root_refuses(own_daemon: DaemonProcess) -> None:
    other = DaemonProcess(root=own_daemon.root)
    other.socket = own_daemon.socket + "2"
    with pytest.raises(RuntimeError, match="already running"):
        other.start(timeout=10)
