"""`docker exec` with the real docker CLI against dockyardd."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator

import pytest

pytestmark = [pytest.mark.compat, pytest.mark.root]


def docker(
    env: dict[str, str], *args: str, input: bytes | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["docker", *args], env=env, input=input, capture_output=True, timeout=timeout)


@pytest.fixture
def box(docker_cli: dict[str, str]) -> Iterator[str]:
    """A running busybox container named ``box`` (removed by clean_daemon)."""
    r = docker(docker_cli, "run", "-d", "--name", "box", "-e", "FROM_RUN=1", "busybox", "sleep", "1000")
    assert r.returncode == 0, r.stderr
    yield "box"


def test_exec_echo(docker_cli: dict[str, str], box: str) -> None:
    r = docker(docker_cli, "exec", box, "echo", "hello")
    assert (r.returncode, r.stdout, r.stderr) == (0, b"hello\n", b"")


def test_exec_separates_stdout_and_stderr(docker_cli: dict[str, str], box: str) -> None:
    r = docker(docker_cli, "exec", box, "sh", "-c", "echo out; echo err >&2")
    assert r.stdout == b"out\n" and r.stderr == b"err\n"


@pytest.mark.parametrize("code", [0, 3, 42])
def test_exec_exit_codes(docker_cli: dict[str, str], box: str, code: int) -> None:
    r = docker(docker_cli, "exec", box, "sh", "-c", f"exit {code}")
    assert r.returncode == code, r.stderr


def test_exec_missing_command(docker_cli: dict[str, str], box: str) -> None:
    r = docker(docker_cli, "exec", box, "nosuchcommand")
    assert r.returncode == 127
    assert b"nosuchcommand" in r.stdout + r.stderr


def test_exec_stdin(docker_cli: dict[str, str], box: str) -> None:
    r = docker(docker_cli, "exec", "-i", box, "sh", "-c", "cat; echo done", input=b"line1\nline2\n")
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"line1\nline2\ndone\n"


def test_exec_user_workdir_env(docker_cli: dict[str, str], box: str) -> None:
    r = docker(
        docker_cli, "exec", "-u", "nobody", "-w", "/tmp", "-e", "FOO=bar", box,
        "sh", "-c", 'id -u; id -g; pwd; echo "$FOO $FROM_RUN $HOME"',
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().split("\n")[:4] == ["65534", "65534", "/tmp", "bar 1 /home"]
    r = docker(docker_cli, "exec", "-u", "1234:5678", box, "sh", "-c", "id -u; id -g")
    assert r.stdout == b"1234\n5678\n"
    r = docker(docker_cli, "exec", "-u", "nosuchuser", box, "true")
    assert r.returncode != 0 and b"nosuchuser" in r.stdout + r.stderr


def test_exec_runs_in_the_containers_namespaces(docker_cli: dict[str, str], box: str) -> None:
    cid = docker(docker_cli, "inspect", "-f", "{{.Id}}", box).stdout.decode().strip()
    r = docker(docker_cli, "exec", box, "sh", "-c", "hostname; cat /proc/1/cmdline | tr '\\0' ' '")
    lines = r.stdout.decode().split("\n")
    assert lines[0] == cid[:12]
    assert lines[1].strip() == "sleep 1000"  # pid 1 of its pid namespace is the container's init
    pid = int(docker(docker_cli, "inspect", "-f", "{{.State.Pid}}", box).stdout)
    with open(f"/proc/{pid}/cgroup") as f:
        container_cgroups = f.read()
    r = docker(docker_cli, "exec", box, "cat", "/proc/self/cgroup")
    # every hierarchy path the exec'd process is in ends with the container's
    own = {line.split(":", 2)[1]: line.split(":", 2)[2] for line in container_cgroups.splitlines()}
    exec_cg = {line.split(":", 2)[1]: line.split(":", 2)[2] for line in r.stdout.decode().splitlines()}
    for controller in ("memory", "pids", "freezer"):
        if controller in own:
            assert exec_cg[controller] in (own[controller], "/"), (controller, exec_cg, own)


def test_exec_privileged_gets_all_capabilities(docker_cli: dict[str, str], box: str) -> None:
    def cap_eff(*flags: str) -> int:
        r = docker(docker_cli, "exec", *flags, box, "sh", "-c", "grep CapEff /proc/self/status")
        return int(r.stdout.split()[1], 16)

    normal, privileged = cap_eff(), cap_eff("--privileged")
    assert normal & ~privileged == 0 and privileged != normal
    assert privileged & (1 << 21)  # CAP_SYS_ADMIN
    assert not normal & (1 << 21)


def test_exec_detached_then_inspect(docker_cli: dict[str, str], box: str) -> None:
    r = docker(docker_cli, "exec", "-d", box, "sh", "-c", "sleep 0.3; touch /tmp/detached-done")
    assert r.returncode == 0 and r.stdout == b"", r.stderr
    deadline = time.monotonic() + 20
    while docker(docker_cli, "exec", box, "test", "-e", "/tmp/detached-done").returncode != 0:
        assert time.monotonic() < deadline
        time.sleep(0.1)


def test_exec_ids_and_inspect_through_api(docker_cli: dict[str, str], box: str) -> None:
    r = docker(docker_cli, "exec", "-d", box, "sleep", "30")
    assert r.returncode == 0, r.stderr
    info = json.loads(docker(docker_cli, "inspect", box).stdout)[0]
    assert info["ExecIDs"] and len(info["ExecIDs"]) == 1


def test_exec_in_stopped_or_paused_container_is_refused(docker_cli: dict[str, str], box: str) -> None:
    assert docker(docker_cli, "pause", box).returncode == 0
    r = docker(docker_cli, "exec", box, "true")
    assert r.returncode != 0 and b"paused" in r.stderr
    assert docker(docker_cli, "unpause", box).returncode == 0
    assert docker(docker_cli, "kill", box).returncode == 0
    r = docker(docker_cli, "exec", box, "true")
    assert r.returncode != 0 and b"is not running" in r.stderr


def test_exec_tty_interactive(docker_cli: dict[str, str], box: str) -> None:
    pexpect = pytest.importorskip("pexpect")
    child = pexpect.spawn("docker", ["exec", "-it", box, "sh"], env=docker_cli, timeout=20, dimensions=(24, 80))
    try:
        child.expect(r"[#$] ")
        child.sendline("tty; echo term=$TERM; stty size")
        child.expect(r"/dev/pts/\d+")
        child.expect("term=xterm")
        child.expect(r"24 80")
        child.setwinsize(40, 100)
        deadline = time.monotonic() + 20
        while True:  # the resize travels CLI -> daemon -> shim: poll for it
            child.sendline("stty size")
            idx = child.expect([r"40 100", r"\d+ \d+"])
            if idx == 0:
                break
            assert time.monotonic() < deadline
            time.sleep(0.1)
        child.sendline("exit 7")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 7


def test_exec_without_tty_is_not_a_terminal(docker_cli: dict[str, str], box: str) -> None:
    r = docker(docker_cli, "exec", box, "sh", "-c", "test -t 0 || echo notty")
    assert r.stdout == b"notty\n"


def test_exec_against_missing_container(docker_cli: dict[str, str]) -> None:
    r = docker(docker_cli, "exec", "nosuchbox", "true")
    assert r.returncode != 0 and b"No such container" in r.stderr


def test_exec_env_is_not_leaked_from_the_cli(docker_cli: dict[str, str], box: str) -> None:
    env = dict(docker_cli, SECRET_HOST_VAR="x")
    r = docker(env, "exec", box, "env")
    assert b"SECRET_HOST_VAR" not in r.stdout
    assert os.environ.get("SECRET_HOST_VAR") is None


def test_exec_tty_detach_keys_leave_the_process_running(docker_cli: dict[str, str], box: str) -> None:
    pexpect = pytest.importorskip("pexpect")
    child = pexpect.spawn("docker", ["exec", "-it", box, "sh"], env=docker_cli, timeout=20)
    try:
        child.expect(r"[#$] ")
        child.send("\x10\x11")  # ctrl-p ctrl-q
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    info = json.loads(docker(docker_cli, "inspect", box).stdout)[0]
    assert info["ExecIDs"] and len(info["ExecIDs"]) == 1  # the shell still runs
    top = docker(docker_cli, "top", box, "-o", "pid,args").stdout.decode()
    assert any(line.split()[1:] == ["sh"] for line in top.splitlines()[1:]), top
