"""Pause and exec state across a dockyardd killed with SIGKILL and started again."""

from __future__ import annotations

import json
import subprocess

import pytest

from dockyard.testing.daemon import DaemonProcess

pytestmark = [pytest.mark.compat, pytest.mark.root, pytest.mark.slow]


def docker(d: DaemonProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], env=d.env(), capture_output=True, text=True, timeout=60)


def test_paused_container_stays_paused_and_controllable(own_daemon: DaemonProcess) -> None:
    d = own_daemon
    r = docker(
        d, "run", "-d", "--name", "frozen", "busybox", "sh", "-c", "trap 'exit 3' TERM; while true; do sleep 0.1; done"
    )
    assert r.returncode == 0, r.stderr
    r = docker(d, "exec", "-d", "frozen", "sleep", "100")
    assert r.returncode == 0, r.stderr
    assert docker(d, "pause", "frozen").returncode == 0
    d.kill9()
    d.start()
    info = json.loads(docker(d, "inspect", "frozen").stdout)[0]
    assert info["State"]["Status"] == "paused" and info["State"]["Paused"] is True
    assert info["ExecIDs"] is None  # exec records lived in the old daemon's memory
    assert docker(d, "unpause", "frozen").returncode == 0
    assert docker(d, "exec", "frozen", "true").returncode == 0
    assert docker(d, "pause", "frozen").returncode == 0
    r = docker(d, "stop", "frozen")
    assert r.returncode == 0, r.stderr
    info = json.loads(docker(d, "inspect", "frozen").stdout)[0]
    assert info["State"]["Status"] == "exited" and info["State"]["ExitCode"] == 3
