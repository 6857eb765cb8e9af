"""A default container is isolated: it can't see or signal the host, mount, or write /sys."""

from __future__ import annotations

import os
import subprocess

import pytest

pytestmark = [pytest.mark.compat, pytest.mark.root]

# Docker's default capability set as a CapEff mask.
DOCKER_DEFAULT_CAPS = 0x00000000A80425FB


def run(env: dict[str, str], *cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker", "run", "--rm", "busybox", *cmd], env=env, capture_output=True, text=True, timeout=60
    )


def test_pid_namespace_hides_host_processes(docker_cli: dict[str, str]) -> None:
    r = run(docker_cli, "sh", "-c", "echo $$; ls /proc | grep -c '^[0-9]'")
    pid, count = r.stdout.split()
    assert pid == "1"
    assert int(count) < 10


def test_cannot_signal_host_process(docker_cli: dict[str, str]) -> None:
    victim = subprocess.Popen(["sleep", "30"])
    try:
        r = run(docker_cli, "kill", "-9", str(victim.pid))
        assert r.returncode != 0
        assert victim.poll() is None
    finally:
        victim.kill()
        victim.wait()


def test_cannot_mount(docker_cli: dict[str, str]) -> None:
    r = run(docker_cli, "sh", "-c", "mkdir -p /mnt/x && mount -t tmpfs none /mnt/x")
    assert r.returncode != 0
    assert "denied" in r.stderr.lower() or "not permitted" in r.stderr.lower()


@pytest.mark.parametrize("path", ["/sys/kernel/uevent_helper", "/proc/sys/kernel/hostname", "/proc/sysrq-trigger"])
def test_cannot_write_kernel_paths(docker_cli: dict[str, str], path: str) -> None:
    r = run(docker_cli, "sh", "-c", f"echo x > {path}")
    assert r.returncode != 0


def test_kcore_is_masked(docker_cli: dict[str, str]) -> None:
    r = run(docker_cli, "sh", "-c", "wc -c < /proc/kcore")
    assert r.stdout.strip() in ("0", "")


def test_default_capabilities_are_dockers(docker_cli: dict[str, str]) -> None:
    r = run(docker_cli, "grep", "-E", "^Cap(Eff|Prm|Bnd):", "/proc/self/status")
    caps = {line.split(":")[0]: int(line.split()[1], 16) for line in r.stdout.splitlines()}
    host_bnd = 0
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("CapBnd:"):
                host_bnd = int(line.split()[1], 16)
    want = DOCKER_DEFAULT_CAPS & host_bnd
    assert caps["CapEff"] == want
    assert caps["CapPrm"] == want
    assert caps["CapBnd"] == want


def test_hostname_is_container_id(docker_cli: dict[str, str]) -> None:
    r = subprocess.run(["docker", "run", "-d", "busybox", "hostname"], env=docker_cli, capture_output=True, text=True)
    cid = r.stdout.strip()
    subprocess.run(["docker", "wait", cid], env=docker_cli, capture_output=True)
    logs = subprocess.run(["docker", "logs", cid], env=docker_cli, capture_output=True, text=True)
    assert logs.stdout.strip() == cid[:12]
    assert os.uname().nodename != cid[:12]


def test_user_switch(docker_cli: dict[str, str]) -> None:
    r = subprocess.run(
        ["docker", "run", "--rm", "-u", "nobody", "busybox", "id"],
        env=docker_cli,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "uid=65534(nobody)" in r.stdout
    r = subprocess.run(
        ["docker", "run", "--rm", "-u", "1234:5678", "busybox", "id", "-u"],
        env=docker_cli,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.stdout.strip() == "1234"
