"""pause/unpause, top, stats, rename and update with the real docker CLI against dockyardd."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Iterator

import pytest

pytestmark = [pytest.mark.compat, pytest.mark.root]

TRAP_TERM = "trap 'exit 3' TERM; while true; do sleep 0.1; done"


def docker(env: dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["docker", *args], env=env, capture_output=True, timeout=timeout)


def inspect(env: dict[str, str], name: str) -> dict[str, object]:
    r = docker(env, "inspect", name)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)[0]  # type: ignore[no-any-return]


def state(env: dict[str, str], name: str) -> dict[str, object]:
    return inspect(env, name)["State"]  # type: ignore[return-value]


def cgroup_file(pid: int, controller: str, name: str) -> str | None:
    """A v1 control file of the cgroup ``pid`` is in (None when that controller is not mounted)."""
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            if controller in controllers.split(","):
                try:
                    with open(f"/sys/fs/cgroup/{controller}{path}/{name}") as cf:
                        return cf.read().strip()
                except OSError:
                    return None
    return None


@pytest.fixture
def svc(docker_cli: dict[str, str]) -> Iterator[str]:
    r = docker(docker_cli, "run", "-d", "--name", "svc", "busybox", "sh", "-c", TRAP_TERM)
    assert r.returncode == 0, r.stderr
    yield "svc"


def _counter(pid: int) -> str:
    """The count a ``counting`` container keeps writing (read through its root from the host)."""
    with open(f"/proc/{pid}/root/tmp/count") as f:
        return f.read()


def _counting(pid: int) -> bool:
    first = _counter(pid)
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        time.sleep(0.05)
        if _counter(pid) != first:
            return True
    return False


def test_pause_stops_the_processes(docker_cli: dict[str, str]) -> None:
    script = "i=0; while true; do i=$((i+1)); echo $i > /tmp/count.new; mv /tmp/count.new /tmp/count; done"
    r = docker(docker_cli, "run", "-d", "--name", "counting", "busybox", "sh", "-c", script)
    assert r.returncode == 0, r.stderr
    pid = int(state(docker_cli, "counting")["Pid"])  # type: ignore[call-overload]
    deadline = time.monotonic() + 20
    while not os.path.exists(f"/proc/{pid}/root/tmp/count"):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert _counting(pid)
    assert docker(docker_cli, "pause", "counting").returncode == 0
    assert not _counting(pid)
    assert docker(docker_cli, "unpause", "counting").returncode == 0
    assert _counting(pid)


def test_stop_of_paused_container(docker_cli: dict[str, str], svc: str) -> None:
    assert docker(docker_cli, "pause", svc).returncode == 0
    t0 = time.monotonic()
    r = docker(docker_cli, "stop", svc)
    assert r.returncode == 0, r.stderr
    assert time.monotonic() - t0 < 8  # the TERM trap ran: no 10 s timeout then SIGKILL
    st = state(docker_cli, svc)
    assert st["Status"] == "exited" and st["ExitCode"] == 3


def test_kill_of_paused_container(docker_cli: dict[str, str], svc: str) -> None:
    assert docker(docker_cli, "pause", svc).returncode == 0
    assert docker(docker_cli, "kill", svc).returncode == 0
    st = state(docker_cli, svc)
    assert st["Status"] == "exited" and st["ExitCode"] == 137


def test_rm_force_of_paused_container(docker_cli: dict[str, str], svc: str) -> None:
    assert docker(docker_cli, "pause", svc).returncode == 0
    r = docker(docker_cli, "rm", svc)
    assert r.returncode != 0 and b"paused" in r.stderr
    assert docker(docker_cli, "rm", "-f", svc).returncode == 0
    assert docker(docker_cli, "inspect", svc).returncode != 0


def test_pause_of_stopped_container_fails(docker_cli: dict[str, str]) -> None:
    assert docker(docker_cli, "create", "--name", "idle", "busybox", "true").returncode == 0
    r = docker(docker_cli, "pause", "idle")
    assert r.returncode != 0 and b"not running" in r.stderr


def test_top(docker_cli: dict[str, str], svc: str) -> None:
    assert docker(docker_cli, "exec", "-d", svc, "sleep", "77").returncode == 0
    deadline = time.monotonic() + 20
    while True:
        r = docker(docker_cli, "top", svc)
        assert r.returncode == 0, r.stderr
        lines = r.stdout.decode().splitlines()
        if any("sleep 77" in line for line in lines):
            break
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert lines[0].split() == ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
    pid = str(state(docker_cli, svc)["Pid"])
    assert any(line.split()[1] == pid for line in lines[1:])
    assert not any("dockyardd" in line or "pytest" in line for line in lines)  # host processes are left out
    r = docker(docker_cli, "top", svc, "-o", "pid,comm")
    assert r.stdout.decode().splitlines()[0].split() == ["PID", "COMMAND"]


def test_top_of_stopped_container_fails(docker_cli: dict[str, str]) -> None:
    assert docker(docker_cli, "create", "--name", "idle", "busybox", "true").returncode == 0
    r = docker(docker_cli, "top", "idle")
    assert r.returncode != 0 and b"not running" in r.stderr


_SIZE = re.compile(r"^([\d.]+)(kB|[KMGT]i?B|B)$")  # docker prints decimal kilobytes as "kB"


def _bytes(text: str) -> float:
    m = _SIZE.match(text)
    assert m, text
    mult = {"B": 1, "kB": 1e3, "KiB": 1024, "MB": 1e6, "MiB": 1 << 20, "GB": 1e9, "GiB": 1 << 30, "TiB": 1 << 40}
    return float(m.group(1)) * mult.get(m.group(2), 1)


def test_stats_no_stream_is_parsable_and_sane(docker_cli: dict[str, str]) -> None:
    r = docker(docker_cli, "run", "-d", "--name", "busy", "-m", "64m", "busybox", "sh", "-c",
               "dd if=/dev/zero of=/dev/null bs=1k & x=$(head -c 4000000 /dev/zero | tr '\\0' a); "
               "while true; do sleep 1; done")  # fmt: skip
    assert r.returncode == 0, r.stderr
    fmt = "{{.Name}}|{{.CPUPerc}}|{{.MemUsage}}|{{.MemPerc}}|{{.NetIO}}|{{.BlockIO}}|{{.PIDs}}"
    deadline = time.monotonic() + 30
    while True:
        r = docker(docker_cli, "stats", "--no-stream", "--format", fmt, "busy")
        assert r.returncode == 0, r.stderr
        name, cpu, mem, mem_perc, net, blk, pids = r.stdout.decode().strip().split("|")
        used, limit = (_bytes(x.strip()) for x in mem.split("/"))
        if float(cpu.rstrip("%")) > 5 and used > 1 << 20:
            break
        assert time.monotonic() < deadline, r.stdout
    assert name == "busy"
    assert float(cpu.rstrip("%")) <= 100.0 * 2 + 1  # dd spins one CPU at most
    assert limit == 64 << 20
    assert 0 < float(mem_perc.rstrip("%")) <= 100
    assert int(pids) >= 3  # sh (holding 4 MB), dd, sleep
    rx, tx = (x.strip() for x in net.split("/"))
    _bytes(rx), _bytes(tx)
    rd, wr = (x.strip() for x in blk.split("/"))
    _bytes(rd), _bytes(wr)


def test_stats_of_stopped_container(docker_cli: dict[str, str]) -> None:
    assert docker(docker_cli, "create", "--name", "idle", "busybox", "true").returncode == 0
    r = docker(docker_cli, "stats", "--no-stream", "--format", "{{.Name}} {{.CPUPerc}} {{.PIDs}}", "idle")
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().split() == ["idle", "0.00%", "0"]


def test_rename(docker_cli: dict[str, str], svc: str) -> None:
    cid = inspect(docker_cli, svc)["Id"]
    assert docker(docker_cli, "rename", svc, "renamed").returncode == 0
    assert inspect(docker_cli, "renamed")["Id"] == cid
    assert inspect(docker_cli, "renamed")["Name"] == "/renamed"
    assert docker(docker_cli, "inspect", svc).returncode != 0
    assert docker(docker_cli, "create", "--name", "other", "busybox", "true").returncode == 0
    r = docker(docker_cli, "rename", "renamed", "other")
    assert r.returncode != 0 and b"already in use" in r.stderr
    r = docker(docker_cli, "rename", "renamed", "bad name")
    assert r.returncode != 0 and b"Invalid container name" in r.stderr
    # the old name is free again
    assert docker(docker_cli, "create", "--name", svc, "busybox", "true").returncode == 0


def test_update_restart_policy(docker_cli: dict[str, str], svc: str) -> None:
    r = docker(docker_cli, "update", "--restart", "on-failure:3", svc)
    assert r.returncode == 0, r.stderr
    pol = inspect(docker_cli, svc)["HostConfig"]["RestartPolicy"]  # type: ignore[index]
    assert pol == {"Name": "on-failure", "MaximumRetryCount": 3}
    r = docker(docker_cli, "update", "--cpu-shares", "512", svc)  # leaves the policy alone
    assert r.returncode == 0, r.stderr
    assert inspect(docker_cli, svc)["HostConfig"]["RestartPolicy"]["Name"] == "on-failure"  # type: ignore[index]
    r = docker(docker_cli, "update", "--restart", "always", svc)
    assert r.returncode == 0
    assert inspect(docker_cli, svc)["HostConfig"]["RestartPolicy"]["Name"] == "always"  # type: ignore[index]


def test_update_memory_live(docker_cli: dict[str, str], svc: str) -> None:
    r = docker(docker_cli, "update", "-m", "48m", "--memory-swap", "96m", "--pids-limit", "50", svc)
    assert r.returncode == 0, r.stderr
    host = inspect(docker_cli, svc)["HostConfig"]
    assert host["Memory"] == 48 << 20 and host["MemorySwap"] == 96 << 20 and host["PidsLimit"] == 50  # type: ignore[index]
    pid = int(state(docker_cli, svc)["Pid"])  # type: ignore[call-overload]
    limit = cgroup_file(pid, "memory", "memory.limit_in_bytes")
    if limit is not None:
        assert int(limit) == 48 << 20
    pids = cgroup_file(pid, "pids", "pids.max")
    if pids is not None:
        assert pids == "50"
    r = docker(docker_cli, "stats", "--no-stream", "--format", "{{.MemUsage}}", svc)
    assert _bytes(r.stdout.decode().split("/")[1].strip()) == 48 << 20
    r = docker(docker_cli, "update", "-m", "1m", svc)
    assert r.returncode != 0 and b"Minimum memory limit" in r.stderr


def test_update_of_stopped_container_is_stored(docker_cli: dict[str, str]) -> None:
    assert docker(docker_cli, "create", "--name", "idle", "busybox", "true").returncode == 0
    assert docker(docker_cli, "update", "-m", "32m", "--memory-swap", "64m", "idle").returncode == 0
    assert inspect(docker_cli, "idle")["HostConfig"]["Memory"] == 32 << 20  # type: ignore[index]
