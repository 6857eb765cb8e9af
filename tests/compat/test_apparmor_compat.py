"""AppArmor through the docker CLI, as this host allows: on a host without it, Docker ignores the option.

On a host with AppArmor these tests skip (they would need a loaded custom profile
and would change the host's profile set); the unit tests cover that side with fakes.
"""

from __future__ import annotations

import json
import subprocess

import pytest

from dockyard.security.apparmor import host_enabled

pytestmark = [
    pytest.mark.compat,
    pytest.mark.root,
    pytest.mark.skipif(host_enabled(), reason="the host has AppArmor; these pin the behaviour without it"),
]


def docker(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], env=env, capture_output=True, text=True, timeout=90)


def test_requested_profile_is_ignored_without_host_apparmor(docker_cli: dict[str, str]) -> None:
    r = docker(docker_cli, "run", "-d", "--security-opt", "apparmor=no-such-profile", "busybox", "sleep", "60")
    assert r.returncode == 0, r.stderr
    cid = r.stdout.strip()
    info = json.loads(docker(docker_cli, "inspect", cid).stdout)[0]
    assert info["State"]["Running"] is True
    assert info["AppArmorProfile"] == ""
    assert info["HostConfig"]["SecurityOpt"] == ["apparmor=no-such-profile"]
    # the process runs under no profile: the kernel has none to report
    r = docker(docker_cli, "exec", cid, "cat", "/proc/self/attr/current")
    assert "docker-default" not in r.stdout and "no-such-profile" not in r.stdout


def test_info_does_not_claim_apparmor(docker_cli: dict[str, str]) -> None:
    r = docker(docker_cli, "info", "--format", "{{json .SecurityOptions}}")
    assert r.returncode == 0, r.stderr
    options = json.loads(r.stdout)
    assert not any(o.startswith("name=apparmor") for o in options)
