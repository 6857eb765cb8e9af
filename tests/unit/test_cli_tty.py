"""``dockyard run -it`` on a real pseudo-terminal: raw mode, resize, restore."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pytest

from dockyard.client.fake_engine import FakeContainer, FakeEngine


@pytest.fixture
def engine() -> Iterator[FakeEngine]:
    d = Path(tempfile.mkdtemp(prefix="dyt", dir="/tmp"))
    try:
        with FakeEngine(str(d / "d.sock")) as eng:
            yield eng
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_run_it_raw_mode_resize_and_exit(engine: FakeEngine) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKYARD_")}
    env["DOCKYARD_HOST"] = "unix://" + engine.socket_path
    # A shell around the CLI shows the terminal's settings before and after.
    script = f"stty -g; {sys.executable} -m dockyard.cli run -it --name t busybox cat; echo rc=$?; stty -g"
    child = pexpect.spawn("/bin/sh", ["-c", script], env=env, dimensions=(33, 101), timeout=15)
    try:
        child.expect(r"([0-9a-f:]+)\r\n")
        before = child.match.group(1)
        c = _wait_running(engine, "t", child)
        child.send("typed text")
        # Raw mode: no local echo and no line buffering; what comes back is the container's copy only.
        child.expect("typed text")
        assert c.sizes and c.sizes[0] == (33, 101)
        child.setwinsize(40, 120)
        for _ in range(500):
            if (40, 120) in c.sizes:
                break
            child.expect(pexpect.TIMEOUT, timeout=0.01)
        assert (40, 120) in c.sizes  # SIGWINCH -> resize
        child.send("\x04")
        child.expect(r"rc=(\d+)\r\n")
        assert child.match.group(1) == b"0"
        child.expect(r"([0-9a-f:]+)\r\n")
        assert child.match.group(1) == before  # the terminal is restored
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)


def test_input_device_must_be_a_tty(engine: FakeEngine) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKYARD_")}
    env["DOCKYARD_HOST"] = "unix://" + engine.socket_path
    r = subprocess.run([*_CLI, "run", "-it", "busybox", "cat"], input="", capture_output=True, text=True, env=env,
                       timeout=30)  # fmt: skip
    assert (r.returncode, r.stderr) == (1, "the input device is not a TTY\n")
    assert not engine.containers


_CLI = [sys.executable, "-m", "dockyard.cli"]


def _wait_running(engine: FakeEngine, name: str, child: pexpect.spawn) -> FakeContainer:
    for _ in range(500):  # bounded: the container shows up once `run` created, attached and started it
        c = engine.find_container(name)
        if c is not None and c.status == "running" and c.attached:
            return c
        child.expect(pexpect.TIMEOUT, timeout=0.01)
    raise AssertionError(f"container {name} never ran")


def test_exec_it_resizes_and_forwards(engine: FakeEngine) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKYARD_")}
    env["DOCKYARD_HOST"] = "unix://" + engine.socket_path
    r = subprocess.run(
        [*_CLI, "run", "-d", "--name", "x", "busybox", "sleep"], capture_output=True, env=env, timeout=30
    )
    assert r.returncode == 0, r.stderr
    cmd = [*_CLI, "exec", "-it", "x", "cat"]
    child = pexpect.spawn(cmd[0], cmd[1:], env=env, dimensions=(24, 70), timeout=15)
    try:
        for _ in range(500):  # bounded: until the exec has started
            if any(e.running for e in engine.execs.values()):
                break
            child.expect(pexpect.TIMEOUT, timeout=0.01)
        child.send("inside")
        child.expect("inside")
        (ex,) = engine.execs.values()
        assert ex.sizes[:1] == [(24, 70)]
        child.send("\x04")
        child.expect(pexpect.EOF)
        child.close()
        assert child.exitstatus == 0
    finally:
        child.close(force=True)
