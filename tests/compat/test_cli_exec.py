"""dockyard exec against a real dockyardd: exit codes, stdio, -u/-w/-e, -d, -i and an interactive -it shell.

The container runs under runc: this checks the CLI and the exec API, independently of the built-in runtime.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable

import pexpect
import pytest

from dockyard.testing.daemon import DaemonProcess

pytestmark = [
    pytest.mark.root,
    pytest.mark.compat,
    pytest.mark.skipif(shutil.which("runc") is None, reason="runc is not installed"),
]

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def env(clean_daemon: DaemonProcess) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if not k.startswith("DOCKYARD_")}
    out["DOCKYARD_HOST"] = clean_daemon.host
    return out


@pytest.fixture
def dy(env: dict[str, str]) -> Run:
    def run(*args: str, input: str = "", timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "dockyard.cli", *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
        )

    return run


@pytest.fixture
def box(dy: Run) -> str:
    r = dy("run", "-d", "--runtime", "runc", "--name", "dytest-exec", "busybox", "sleep", "300")
    assert r.returncode == 0, r.stderr
    return "dytest-exec"


def test_exec_stdio_options_and_exit_codes(dy: Run, box: str) -> None:
    r = dy("exec", box, "sh", "-c", "echo out; echo err >&2; exit 3")
    assert (r.returncode, r.stdout, r.stderr) == (3, "out\n", "err\n")
    r = dy("exec", "-u", "1000:1000", "-w", "/tmp", "-e", "A=b", box, "sh", "-c", 'id -u; pwd; echo "$A"')
    assert (r.returncode, r.stdout) == (0, "1000\n/tmp\nb\n"), r.stderr
    assert dy("exec", "-d", box, "touch", "/tmp/detached").returncode == 0
    r = dy("exec", box, "sh", "-c", "for i in $(seq 50); do [ -e /tmp/detached ] && exit 0; sleep 0.1; done; exit 1")
    assert r.returncode == 0
    r = dy("exec", "-i", box, "sh", "-c", "wc -l", input="a\nb\n")
    assert (r.returncode, r.stdout.strip()) == (0, "2")
    r = dy("exec", box, "no-such-binary")
    assert r.returncode in (126, 127)
    r = dy("exec", "dytest-nosuch", "true")
    assert r.returncode == 1 and "No such container" in r.stderr


def test_exec_interactive_tty(env: dict[str, str], box: str) -> None:
    child = pexpect.spawn(
        sys.executable, ["-m", "dockyard.cli", "exec", "-it", box, "sh"], env=env, timeout=30, encoding="utf-8"
    )
    try:
        child.setwinsize(40, 100)
        child.expect("# ")
        child.sendline("echo $((6*7)); stty size")
        child.expect("42")
        child.expect(r"40 100")
        child.sendline("exit 5")
        child.expect(pexpect.EOF)
        child.close()
        assert child.exitstatus == 5
    finally:
        if child.isalive():
            child.terminate(force=True)
