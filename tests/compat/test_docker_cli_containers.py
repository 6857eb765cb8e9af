"""The real docker CLI against dockyardd: the container lifecycle."""

from __future__ import annotations

import json
import subprocess
import time

import pytest

pytestmark = [pytest.mark.compat, pytest.mark.root]


def docker(
    env: dict[str, str], *args: str, input: bytes | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["docker", *args], env=env, input=input, capture_output=True, timeout=timeout)


def test_run_echo_prints_output(docker_cli: dict[str, str]) -> None:
    r = docker(docker_cli, "run", "--rm", "busybox", "echo", "hi")
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"hi\n"


def test_run_stdin_is_forwarded(docker_cli: dict[str, str]) -> None:
    r = docker(docker_cli, "run", "--rm", "-i", "busybox", "cat", input=b"x\n")
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"x\n"


def test_stdout_and_stderr_are_separate(docker_cli: dict[str, str]) -> None:
    r = docker(docker_cli, "run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2")
    assert r.stdout == b"out\n"
    assert r.stderr == b"err\n"


@pytest.mark.parametrize(
    ("cmd", "code"),
    [
        (["sh", "-c", "exit 3"], 3),
        (["nosuchcommand"], 127),
        (["/etc/passwd"], 126),
    ],
)
def test_exit_codes(docker_cli: dict[str, str], cmd: list[str], code: int) -> None:
    r = docker(docker_cli, "run", "--rm", "busybox", *cmd)
    assert r.returncode == code, r.stderr


def test_rm_removes_container(docker_cli: dict[str, str]) -> None:
    r = docker(docker_cli, "run", "--rm", "--name", "gone", "busybox", "true")
    assert r.returncode == 0, r.stderr
    ps = docker(docker_cli, "ps", "-a", "--format", "{{.Names}}")
    assert "gone" not in ps.stdout.decode().split()


def test_detached_lifecycle_ps_logs_stop_rm(docker_cli: dict[str, str]) -> None:
    r = docker(
        docker_cli,
        "run",
        "-d",
        "--name",
        "svc",
        "busybox",
        "sh",
        "-c",
        "echo started; trap 'echo bye; exit 0' TERM; while true; do sleep 0.1; done",
    )
    assert r.returncode == 0, r.stderr
    cid = r.stdout.decode().strip()
    assert len(cid) == 64
    ps = docker(docker_cli, "ps", "--format", "{{.ID}} {{.Names}} {{.Status}}")
    line = next(x for x in ps.stdout.decode().splitlines() if "svc" in x)
    assert line.startswith(cid[:12]) and "Up" in line
    deadline = time.monotonic() + 10
    while b"started" not in docker(docker_cli, "logs", "svc").stdout and time.monotonic() < deadline:
        time.sleep(0.05)
    assert docker(docker_cli, "stop", "svc").returncode == 0
    logs = docker(docker_cli, "logs", "svc")
    assert logs.stdout == b"started\nbye\n"
    info = json.loads(docker(docker_cli, "inspect", "svc").stdout)[0]
    assert info["State"]["Status"] == "exited"
    assert info["State"]["ExitCode"] == 0
    assert info["Name"] == "/svc"
    assert docker(docker_cli, "rm", "svc").returncode == 0
    assert docker(docker_cli, "inspect", "svc").returncode != 0


def test_create_start_wait(docker_cli: dict[str, str]) -> None:
    r = docker(
        docker_cli,
        "create",
        "--name",
        "waiter",
        "-e",
        "A=1",
        "-w",
        "/tmp",
        "busybox",
        "sh",
        "-c",
        "echo $A $PWD; exit 5",
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(docker(docker_cli, "inspect", "waiter").stdout)[0]["State"]["Status"] == "created"
    assert docker(docker_cli, "start", "waiter").returncode == 0
    w = docker(docker_cli, "wait", "waiter")
    assert w.stdout.strip() == b"5"
    assert docker(docker_cli, "logs", "waiter").stdout == b"1 /tmp\n"


def test_start_attach(docker_cli: dict[str, str]) -> None:
    docker(docker_cli, "create", "--name", "sa", "busybox", "echo", "attached")
    r = docker(docker_cli, "start", "-a", "sa")
    assert r.stdout == b"attached\n"


def test_kill_with_signal(docker_cli: dict[str, str]) -> None:
    docker(
        docker_cli,
        "run",
        "-d",
        "--name",
        "killme",
        "busybox",
        "sh",
        "-c",
        "trap 'exit 42' USR1; while true; do sleep 0.1; done",
    )
    assert docker(docker_cli, "kill", "-s", "USR1", "killme").returncode == 0
    assert docker(docker_cli, "wait", "killme").stdout.strip() == b"42"
    docker(docker_cli, "start", "killme")
    assert docker(docker_cli, "kill", "killme").returncode == 0  # SIGKILL by default
    assert docker(docker_cli, "wait", "killme").stdout.strip() == b"137"


def test_name_conflict_is_an_error(docker_cli: dict[str, str]) -> None:
    assert docker(docker_cli, "create", "--name", "dup", "busybox", "true").returncode == 0
    r = docker(docker_cli, "create", "--name", "dup", "busybox", "true")
    assert r.returncode != 0
    assert b"already in use" in r.stderr


def test_unknown_container_and_image(docker_cli: dict[str, str]) -> None:
    r = docker(docker_cli, "inspect", "--type", "container", "nosuchcontainer")
    assert r.returncode != 0 and b"No such" in r.stderr
    r = docker(docker_cli, "rm", "nosuchcontainer")
    assert r.returncode != 0 and b"No such container" in r.stderr
    r = docker(docker_cli, "create", "--pull", "never", "nosuchimage:v1")
    assert r.returncode != 0 and b"No such image" in r.stderr


def test_rm_running_needs_force(docker_cli: dict[str, str]) -> None:
    docker(docker_cli, "run", "-d", "--name", "busy", "busybox", "sleep", "100")
    r = docker(docker_cli, "rm", "busy")
    assert r.returncode != 0 and b"force" in r.stderr
    assert docker(docker_cli, "rm", "-f", "busy").returncode == 0


def test_ps_filters_and_quiet(docker_cli: dict[str, str]) -> None:
    docker(docker_cli, "run", "--name", "f1", "-l", "team=a", "busybox", "true")
    docker(docker_cli, "run", "--name", "f2", "-l", "team=b", "busybox", "sh", "-c", "exit 2")
    out = docker(docker_cli, "ps", "-a", "--filter", "label=team=a", "--format", "{{.Names}}").stdout.decode().split()
    assert out == ["f1"]
    out = docker(docker_cli, "ps", "-a", "--filter", "exited=2", "--format", "{{.Names}}").stdout.decode().split()
    assert out == ["f2"]
    q = docker(docker_cli, "ps", "-aq").stdout.decode().split()
    assert len(q) == 2 and all(len(x) == 12 for x in q)


def test_logs_tail_and_timestamps(docker_cli: dict[str, str]) -> None:
    docker(docker_cli, "run", "--name", "lg", "busybox", "sh", "-c", "for i in 1 2 3 4; do echo $i; done")
    assert docker(docker_cli, "logs", "--tail", "2", "lg").stdout == b"3\n4\n"
    assert docker(docker_cli, "logs", "--details", "--tail", "1", "lg").stdout == b" 4\n"
    ts = docker(docker_cli, "logs", "-t", "lg").stdout.decode().splitlines()
    assert len(ts) == 4 and ts[0].endswith(" 1") and ts[0][:4].isdigit() and "T" in ts[0]


def test_interactive_tty(docker_cli: dict[str, str]) -> None:
    pexpect = pytest.importorskip("pexpect")
    child = pexpect.spawn("docker", ["run", "-it", "--rm", "busybox", "sh"], env=docker_cli, timeout=20)
    try:
        child.expect(r"[#$] ")
        child.sendline("echo $((40+2)); tty")
        child.expect("42")
        child.expect("/dev/pts/0|/dev/console")
        child.sendline("exit 7")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 7


def test_log_rotation_keeps_newest_lines(docker_cli: dict[str, str]) -> None:
    script = "i=0; while [ $i -lt 200 ]; do echo line $i; i=$((i+1)); done"
    r = docker(
        docker_cli,
        "run",
        "--name",
        "rot",
        "--log-opt",
        "max-size=2k",
        "--log-opt",
        "max-file=3",
        "busybox",
        "sh",
        "-c",
        script,
    )
    assert r.returncode == 0, r.stderr
    lines = docker(docker_cli, "logs", "rot").stdout.decode().splitlines()
    numbers = [int(x.split()[1]) for x in lines]
    assert numbers[-1] == 199
    assert numbers == list(range(numbers[0], 200))  # contiguous: rotation drops only the oldest
    assert 0 < len(numbers) < 200
    path = json.loads(docker(docker_cli, "inspect", "rot").stdout)[0]["LogPath"]
    import os

    assert os.path.getsize(path) <= 2048 and os.path.exists(path + ".1") and not os.path.exists(path + ".3")


def test_none_log_driver(docker_cli: dict[str, str]) -> None:
    r = docker(docker_cli, "run", "--name", "nolog", "--log-driver", "none", "busybox", "echo", "hi")
    assert r.stdout == b"hi\n"  # attach still works
    r = docker(docker_cli, "logs", "nolog")
    assert r.returncode != 0 and b"does not support reading" in r.stderr
