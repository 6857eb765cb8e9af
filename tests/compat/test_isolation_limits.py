"""Resource limits verified from inside containers, isolation flags, and bad input refused up front."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator

import pytest

from dockyard.testing.daemon import DaemonProcess

pytestmark = [pytest.mark.compat, pytest.mark.root]


def docker(
    env: dict[str, str], *args: str, timeout: float = 90, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], env=env, capture_output=True, text=True, timeout=timeout, input=input)


def inspect(env: dict[str, str], cid: str) -> dict:  # type: ignore[type-arg]
    r = docker(env, "inspect", cid)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)[0]  # type: ignore[no-any-return]


def wait_exit(env: dict[str, str], cid: str, timeout: float = 90) -> int:
    r = docker(env, "wait", cid, timeout=timeout)
    assert r.returncode == 0, r.stderr
    return int(r.stdout.strip())


def cgroup_dir(pid: int, controller: str) -> str:
    """The host directory of ``pid``'s cgroup in a v1 ``controller`` hierarchy."""
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            _, names, path = line.rstrip("\n").split(":", 2)
            if controller in names.split(","):
                return f"/sys/fs/cgroup/{controller}{path}"
    pytest.skip(f"no v1 {controller} hierarchy on this host")


@pytest.fixture
def v1_host() -> None:
    if os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
        pytest.skip("these checks read v1 cgroup files; the host runs cgroup v2")


# --- limits --------------------------------------------------------------------------------------------


def test_memory_limit_oom_kills_and_reports(docker_cli: dict[str, str], daemon: DaemonProcess) -> None:
    since = str(int(time.time()) - 1)
    r = docker(
        docker_cli,
        "run",
        "-d",
        "-m",
        "32m",
        "--memory-swap",
        "32m",
        "busybox",
        "sh",
        "-c",
        "x=$(head -c 200000000 /dev/zero | tr '\\0' a); echo survived",
    )
    cid = r.stdout.strip()
    assert r.returncode == 0, r.stderr
    assert wait_exit(docker_cli, cid) == 137
    info = inspect(docker_cli, cid)
    assert info["State"]["OOMKilled"] is True
    assert info["HostConfig"]["Memory"] == 32 << 20
    assert info["HostConfig"]["MemorySwap"] == 32 << 20
    ev = docker(
        docker_cli,
        "events",
        "--since",
        since,
        "--until",
        str(int(time.time()) + 1),
        "--filter",
        f"container={cid}",
        "--filter",
        "event=oom",
        "--format",
        "{{.Action}}",
    )
    assert "oom" in ev.stdout.split(), ev.stdout + ev.stderr


def test_pids_limit_stops_a_fork_bomb(docker_cli: dict[str, str]) -> None:
    # A bounded "bomb": 100 sleepers at most, so a broken limit can't hurt the host. The shell
    # gives up at the first failed fork; the container's end takes the sleepers along.
    r = docker(
        docker_cli,
        "run",
        "--rm",
        "--pids-limit",
        "20",
        "busybox",
        "sh",
        "-c",
        "for i in $(seq 100); do sleep 30 & echo started; done",
    )
    started = r.stdout.split().count("started")
    assert 0 < started < 20, r.stdout + r.stderr
    assert "can't fork" in r.stderr
    r = docker(docker_cli, "run", "--rm", "--pids-limit", "20", "busybox", "cat", "/sys/fs/cgroup/pids/pids.max")
    assert r.stdout.strip() == "20"


def test_cpus_half_holds_a_busy_loop_near_half_a_cpu(docker_cli: dict[str, str], v1_host: None) -> None:
    r = docker(docker_cli, "run", "-d", "--cpus", "0.5", "busybox", "sh", "-c", "while :; do :; done")
    cid = r.stdout.strip()
    assert r.returncode == 0, r.stderr
    try:
        info = inspect(docker_cli, cid)
        assert info["HostConfig"]["NanoCpus"] == 500_000_000
        usage = os.path.join(cgroup_dir(info["State"]["Pid"], "cpuacct"), "cpuacct.usage")
        with open(os.path.join(cgroup_dir(info["State"]["Pid"], "cpu"), "cpu.cfs_quota_us")) as f:
            assert f.read().strip() == "50000"
        time.sleep(0.5)  # let it warm up: the first period may carry a burst

        def sample() -> tuple[float, int]:
            with open(usage) as f:
                return time.monotonic(), int(f.read())

        t0, u0 = sample()
        time.sleep(2.0)
        t1, u1 = sample()
        share = (u1 - u0) / 1e9 / (t1 - t0)
        # Half a CPU; generous on both sides, the machine is shared. Unlimited, the loop would take ~1.0.
        assert 0.15 < share < 0.7, share
    finally:
        docker(docker_cli, "rm", "-f", cid)


def test_limits_show_in_inspect_and_cgroups(docker_cli: dict[str, str], v1_host: None) -> None:
    r = docker(
        docker_cli,
        "run",
        "-d",
        "-m",
        "64m",
        "--memory-reservation",
        "32m",
        "--oom-kill-disable",
        "--cpu-shares",
        "512",
        "--cpu-period",
        "50000",
        "--cpu-quota",
        "25000",
        "--cpuset-cpus",
        "0",
        "--blkio-weight",
        "300",
        "busybox",
        "sleep",
        "60",
    )
    cid = r.stdout.strip()
    assert r.returncode == 0, r.stderr
    try:
        info = inspect(docker_cli, cid)
        hc = info["HostConfig"]
        assert (hc["Memory"], hc["MemoryReservation"], hc["OomKillDisable"]) == (64 << 20, 32 << 20, True)
        assert (hc["CpuShares"], hc["CpuPeriod"], hc["CpuQuota"], hc["CpusetCpus"]) == (512, 50000, 25000, "0")
        assert hc["BlkioWeight"] == 300
        pid = info["State"]["Pid"]

        def read(controller: str, name: str) -> str:
            with open(os.path.join(cgroup_dir(pid, controller), name)) as f:
                return f.read().strip()

        assert read("memory", "memory.limit_in_bytes") == str(64 << 20)
        assert read("memory", "memory.soft_limit_in_bytes") == str(32 << 20)
        assert "oom_kill_disable 1" in read("memory", "memory.oom_control")
        assert read("cpu", "cpu.shares") == "512"
        assert read("cpu", "cpu.cfs_quota_us") == "25000"
        assert read("cpuset", "cpuset.cpus") == "0"
        weight = os.path.join(cgroup_dir(pid, "blkio"), "blkio.bfq.weight")
        if os.path.exists(weight):
            with open(weight) as f:
                assert f.read().split()[-1] == "300"
    finally:
        docker(docker_cli, "rm", "-f", cid)


def test_block_io_throttles(docker_cli: dict[str, str], v1_host: None) -> None:
    disk = next((n for n in sorted(os.listdir("/sys/class/block")) if not n.startswith(("loop", "ram", "zram"))), "")
    if not disk or not os.path.exists(f"/dev/{disk}"):
        pytest.skip("no host disk node in /dev")
    with open(f"/sys/class/block/{disk}/dev") as f:
        numbers = f.read().strip()
    r = docker(
        docker_cli,
        "run",
        "--rm",
        "--device-read-bps",
        f"/dev/{disk}:1mb",
        "--device-write-iops",
        f"/dev/{disk}:100",
        "busybox",
        "sh",
        "-c",
        "cat /sys/fs/cgroup/blkio/blkio.throttle.read_bps_device /sys/fs/cgroup/blkio/blkio.throttle.write_iops_device",
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[:2] == [f"{numbers} 1048576", f"{numbers} 100"]


def test_update_changes_a_limit_live(docker_cli: dict[str, str]) -> None:
    r = docker(docker_cli, "run", "-d", "--pids-limit", "20", "-m", "64m", "busybox", "sleep", "60")
    cid = r.stdout.strip()
    try:
        up = docker(docker_cli, "update", "--pids-limit", "40", "-m", "96m", "--memory-swap", "-1", cid)
        if up.returncode != 0 and "page not found" in up.stderr:
            pytest.skip("docker update is not implemented by this daemon yet")
        assert up.returncode == 0, up.stderr
        pid = inspect(docker_cli, cid)["State"]["Pid"]
        with open(os.path.join(cgroup_dir(pid, "pids"), "pids.max")) as f:
            assert f.read().strip() == "40"
        with open(os.path.join(cgroup_dir(pid, "memory"), "memory.limit_in_bytes")) as f:
            assert f.read().strip() == str(96 << 20)
        assert inspect(docker_cli, cid)["HostConfig"]["PidsLimit"] == 40
    finally:
        docker(docker_cli, "rm", "-f", cid)


# --- users, namespaces, filesystem, init ---------------------------------------------------------------


def test_group_add_and_numeric_user(docker_cli: dict[str, str]) -> None:
    r = docker(
        docker_cli,
        "run",
        "--rm",
        "-u",
        "1000:1000",
        "--group-add",
        "1234",
        "--group-add",
        "daemon",
        "busybox",
        "id",
        "-G",
    )
    assert sorted(r.stdout.split()) == sorted(["1000", "1234", "1"]), r.stdout + r.stderr


def test_read_only_rootfs_with_tmpfs(docker_cli: dict[str, str]) -> None:
    r = docker(
        docker_cli,
        "run",
        "--rm",
        "--read-only",
        "--tmpfs",
        "/scratch",
        "busybox",
        "sh",
        "-c",
        "touch /nope 2>/dev/null && echo root-writable; touch /scratch/ok && echo scratch-ok",
    )
    assert r.stdout.split() == ["scratch-ok"], r.stdout + r.stderr


def test_ulimit_sysctl_and_shm_size(docker_cli: dict[str, str]) -> None:
    r = docker(
        docker_cli,
        "run",
        "--rm",
        "--ulimit",
        "nofile=100:200",
        "--sysctl",
        "net.ipv4.ip_forward=1",
        "--sysctl",
        "kernel.msgmax=4096",
        "--shm-size",
        "16m",
        "busybox",
        "sh",
        "-c",
        "ulimit -n; ulimit -Hn; cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/msgmax; df -k /dev/shm | tail -1",
    )
    lines = r.stdout.split("\n")
    assert lines[:4] == ["100", "200", "1", "4096"], r.stdout + r.stderr
    assert lines[4].split()[1] == str(16 * 1024)


def test_uts_and_ipc_host(docker_cli: dict[str, str]) -> None:
    r = docker(
        docker_cli,
        "run",
        "--rm",
        "--uts",
        "host",
        "--ipc",
        "host",
        "busybox",
        "sh",
        "-c",
        "hostname; readlink /proc/self/ns/ipc",
    )
    assert r.stdout.split() == [os.uname().nodename, os.readlink("/proc/self/ns/ipc")], r.stdout + r.stderr


def test_ipc_and_pid_of_another_container(docker_cli: dict[str, str]) -> None:
    r = docker(
        docker_cli,
        "run",
        "-d",
        "--name",
        "ipc-donor",
        "--ipc",
        "shareable",
        "busybox",
        "sh",
        "-c",
        "echo donor > /dev/shm/marker; echo ready; sleep 60",
    )
    assert r.returncode == 0, r.stderr
    deadline = time.monotonic() + 60
    while "ready" not in docker(docker_cli, "logs", "ipc-donor").stdout:
        assert time.monotonic() < deadline, "the donor never wrote its marker"
        time.sleep(0.1)
    pid = inspect(docker_cli, "ipc-donor")["State"]["Pid"]
    script = "readlink /proc/self/ns/ipc; readlink /proc/self/ns/pid; cat /dev/shm/marker; ps -o comm | grep -c sleep"
    r = docker(
        docker_cli,
        "run",
        "--rm",
        "--ipc",
        "container:ipc-donor",
        "--pid",
        "container:ipc-donor",
        "busybox",
        "sh",
        "-c",
        script,
    )
    want = [os.readlink(f"/proc/{pid}/ns/ipc"), os.readlink(f"/proc/{pid}/ns/pid"), "donor", "1"]
    assert r.stdout.split() == want, r.stdout + r.stderr
    # A private donor can't be joined, and says why.
    docker(docker_cli, "run", "-d", "--name", "ipc-private", "--ipc", "private", "busybox", "sleep", "60")
    r = docker(docker_cli, "run", "--rm", "--ipc", "container:ipc-private", "busybox", "true")
    assert r.returncode != 0 and "non-shareable" in r.stderr


def test_init_reaps_zombies_and_forwards_signals(docker_cli: dict[str, str]) -> None:
    # An orphan is reparented to PID 1: the init reaps it, a plain sh would leave a zombie.
    script = "(sleep 0.2 &); sleep 1.5; ps -o pid,stat,comm"
    r = docker(docker_cli, "run", "--rm", "--init", "busybox", "sh", "-c", script)
    rows = [line.split() for line in r.stdout.splitlines()[1:]]
    assert rows[0][0] == "1" and rows[0][2] in ("docker-init", "/sbin/docker-init"), r.stdout
    assert not any("Z" in row[1] for row in rows), r.stdout
    # docker stop's SIGTERM reaches the command through the init.
    r = docker(
        docker_cli, "run", "-d", "--init", "busybox", "sh", "-c", "trap 'exit 42' TERM; while :; do sleep 0.1; done"
    )
    cid = r.stdout.strip()
    time.sleep(0.5)
    docker(docker_cli, "stop", "-t", "20", cid, timeout=60)
    assert inspect(docker_cli, cid)["State"]["ExitCode"] == 42


# --- bad input: refused before anything starts -------------------------------------------------------


@pytest.fixture
def no_new_containers(docker_cli: dict[str, str]) -> Iterator[None]:
    before = docker(docker_cli, "ps", "-aq").stdout.split()
    yield
    after = docker(docker_cli, "ps", "-aq").stdout.split()
    assert after == before, "a refused request left a container behind"


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (("--cap-add", "NOT_A_CAP"), "unknown capability"),
        (("--cap-drop", "CAP_BOGUS"), "unknown capability"),
        (("-m", "4m"), "Minimum memory limit"),
        (("--memory-reservation", "1k"), "Minimum memory"),
        (("-m", "32m", "--memory-swap", "16m"), "swap"),
        (("--cpu-period", "500"), "CPU cfs period"),
        (("--cpu-quota", "10"), "CPU cfs quota"),
        (("--blkio-weight", "5"), "blkio weight"),
        (("--sysctl", "vm.swappiness=10"), "not allowed"),
        (("--sysctl", "net.ipv4.ip_forward=1", "--network", "host"), "not allowed in host network"),
        (("--device-cgroup-rule", "z 1:2 rwm"), "invalid device cgroup"),
        (("--ipc", "host", "--sysctl", "kernel.msgmax=4096"), "host IPC namespace"),
        (("--security-opt", "seccomp=/dev/null/missing.json"), "seccomp"),
    ],
)
def test_bad_input_is_refused(
    docker_cli: dict[str, str], no_new_containers: None, flags: tuple[str, ...], message: str
) -> None:
    r = docker(docker_cli, "run", "--rm", *flags, "busybox", "true")
    assert r.returncode == 125, r.stdout + r.stderr
    assert message.lower() in r.stderr.lower(), r.stderr


def test_malformed_seccomp_profiles_are_refused(
    docker_cli: dict[str, str], no_new_containers: None, tmp_path: object
) -> None:
    for body, message in (
        ('{"defaultAction": "SCMP_ACT_NOPE"}', "unknown action"),
        (
            '{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", '
            '"args": [{"index": 9, "value": 0, "op": "SCMP_CMP_EQ"}]}]}',
            "0..5",
        ),
        ('{"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_Z80"]}', "unknown architecture"),
    ):
        path = os.path.join(str(tmp_path), "profile.json")
        with open(path, "w") as f:
            f.write(body)
        r = docker(docker_cli, "run", "--rm", "--security-opt", f"seccomp={path}", "busybox", "true")
        assert r.returncode == 125 and message in r.stderr, r.stderr


def test_custom_seccomp_profile_applies(docker_cli: dict[str, str], tmp_path: object) -> None:
    path = os.path.join(str(tmp_path), "profile.json")
    with open(path, "w") as f:
        json.dump(
            {
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}],
            },
            f,
        )
    r = docker(
        docker_cli,
        "run",
        "--rm",
        "--security-opt",
        f"seccomp={path}",
        "busybox",
        "sh",
        "-c",
        "mkdir /x 2>&1; grep Seccomp: /proc/self/status",
    )
    assert "Permission denied" in r.stdout and "Seccomp:\t2" in r.stdout, r.stdout
    r = docker(
        docker_cli,
        "run",
        "--rm",
        "--security-opt",
        "seccomp=unconfined",
        "busybox",
        "grep",
        "Seccomp:",
        "/proc/self/status",
    )
    assert r.stdout.split() == ["Seccomp:", "0"]
