"""Capability, device and privilege flags as a container sees them, and as inspect shows them."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from dockyard.containers.capabilities import CAPABILITY_NUMBERS

pytestmark = [pytest.mark.compat, pytest.mark.root]


def docker(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], env=env, capture_output=True, text=True, timeout=90)


def status_field(env: dict[str, str], name: str, *flags: str) -> str:
    r = docker(env, "run", "--rm", *flags, "busybox", "grep", f"^{name}:", "/proc/self/status")
    assert r.returncode == 0, r.stderr
    return r.stdout.split()[1]


def host_bounding_set() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1], 16) for line in f if line.startswith("CapBnd:"))


def mask(*names: str) -> int:
    return sum(1 << CAPABILITY_NUMBERS[n] for n in names)


def test_cap_drop_all_with_one_added(docker_cli: dict[str, str]) -> None:
    eff = int(status_field(docker_cli, "CapEff", "--cap-drop", "ALL", "--cap-add", "net_bind_service"), 16)
    assert eff == mask("CAP_NET_BIND_SERVICE")


def test_cap_add_all_is_what_the_host_bounding_set_allows(docker_cli: dict[str, str]) -> None:
    eff = int(status_field(docker_cli, "CapEff", "--cap-add", "ALL", "--cap-drop", "CAP_SYS_ADMIN"), 16)
    assert eff == host_bounding_set() & ~mask("CAP_SYS_ADMIN")


def test_cap_names_are_normalised_in_inspect(docker_cli: dict[str, str]) -> None:
    r = docker(docker_cli, "create", "--cap-add", "sys_time", "--cap-drop", "CAP_CHOWN", "busybox", "true")
    assert r.returncode == 0, r.stderr
    hc = json.loads(docker(docker_cli, "inspect", r.stdout.strip()).stdout)[0]["HostConfig"]
    assert {c.upper().removeprefix("CAP_") for c in hc["CapAdd"]} == {"SYS_TIME"}
    assert {c.upper().removeprefix("CAP_") for c in hc["CapDrop"]} == {"CHOWN"}


def test_no_new_privileges(docker_cli: dict[str, str]) -> None:
    assert status_field(docker_cli, "NoNewPrivs") == "0"
    assert status_field(docker_cli, "NoNewPrivs", "--security-opt", "no-new-privileges") == "1"


def test_privileged_has_every_host_capability_and_no_seccomp(docker_cli: dict[str, str]) -> None:
    assert int(status_field(docker_cli, "CapEff", "--privileged"), 16) == host_bounding_set()
    assert status_field(docker_cli, "Seccomp", "--privileged") == "0"
    assert status_field(docker_cli, "Seccomp") == "2"


def test_device_with_permissions(docker_cli: dict[str, str]) -> None:
    # A loop device the host can read, given read-only: reading works, writing is refused by the device cgroup.
    dev = next((f"/dev/loop{i}" for i in range(8) if os.path.exists(f"/dev/loop{i}")), "")
    if not dev:
        pytest.skip("no loop device node on the host")
    try:
        with open(dev, "rb") as f:
            f.read(1)
    except OSError as e:
        pytest.skip(f"the host itself can't read {dev}: {e}")
    st = os.stat(dev)
    r = docker(
        docker_cli,
        "run",
        "--rm",
        "--device",
        f"{dev}:/dev/xvdz:r",
        "busybox",
        "sh",
        "-c",
        "stat -c '%t:%T' /dev/xvdz; head -c1 /dev/xvdz >/dev/null && echo read-ok;"
        " (echo x > /dev/xvdz) 2>/dev/null || echo write-refused",
    )
    assert r.stdout.split() == [f"{os.major(st.st_rdev):x}:{os.minor(st.st_rdev):x}", "read-ok", "write-refused"], (
        r.stdout + r.stderr
    )
    r = docker(docker_cli, "run", "--rm", "--device", "/dev/no-such-device", "busybox", "true")
    assert r.returncode == 125 and "no-such-device" in r.stderr
