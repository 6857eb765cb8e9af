"""After ``docker rename`` the embedded DNS answers the new name, and no longer the old one."""

from __future__ import annotations

import contextlib
import json
import subprocess
import uuid
from collections.abc import Iterator

import pytest

from dockyard.testing.daemon import DaemonProcess

pytestmark = [pytest.mark.compat, pytest.mark.root, pytest.mark.timeout(180)]


def _docker(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    r = subprocess.run(["docker", *args], env=env, capture_output=True, text=True, timeout=90)
    if check and r.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} failed: {r.stderr}")
    return r


@pytest.fixture
def user_network(clean_daemon: DaemonProcess, docker_cli: dict[str, str]) -> Iterator[str]:
    name = f"ren-{uuid.uuid4().hex[:6]}"
    _docker(docker_cli, "network", "create", name)
    try:
        yield name
    finally:
        clean_daemon.remove_all_containers()
        with contextlib.suppress(Exception):
            _docker(docker_cli, "network", "rm", name, check=False)


def _lookup(env: dict[str, str], network: str, name: str) -> str:
    # --dns 127.0.0.1: the embedded server's upstream, so a name it doesn't know never leaves the host.
    r = _docker(
        env,
        "run",
        "--rm",
        "--network",
        network,
        "--dns",
        "127.0.0.1",
        "busybox",
        "nslookup",
        name,
        "127.0.0.11",
        check=False,
    )
    return r.stdout


def test_renamed_container_resolves_by_its_new_name_only(docker_cli: dict[str, str], user_network: str) -> None:
    old, new = f"old-{uuid.uuid4().hex[:6]}", f"new-{uuid.uuid4().hex[:6]}"
    _docker(docker_cli, "run", "-d", "--name", old, "--network", user_network, "busybox", "sleep", "600")
    fmt = '{{json (index .NetworkSettings.Networks "' + user_network + '")}}'
    ip = json.loads(_docker(docker_cli, "inspect", "-f", fmt, old).stdout)["IPAddress"]
    assert ip
    assert ip in _lookup(docker_cli, user_network, old)
    _docker(docker_cli, "rename", old, new)
    assert ip in _lookup(docker_cli, user_network, new)
    assert ip not in _lookup(docker_cli, user_network, old)
    endpoint = json.loads(_docker(docker_cli, "inspect", "-f", fmt, new).stdout)
    assert new in endpoint["DNSNames"] and old not in endpoint["DNSNames"]
