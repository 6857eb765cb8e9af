"""After ``docker rename`` the embedded DNS answers the new name, and no longer the old one."""

from __future__ import annotations

import json
import uuid

import pytest

from dockyard.testing.docker_cli import docker as _docker

pytestmark = [pytest.mark.compat, pytest.mark.root, pytest.mark.timeout(180)]


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
