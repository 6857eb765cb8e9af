"""Hairpin NAT: containers reach a published port through the host's addresses, also the
container that publishes it (back through its own bridge port), as with Docker.

The host addresses used are the gateways of the daemon's own bridges (no outside address)."""

from __future__ import annotations

import json
import uuid

import pytest

from dockyard.testing.docker_cli import docker as _docker

pytestmark = [pytest.mark.compat, pytest.mark.root, pytest.mark.timeout(240)]

# Retry for a while: the server loop restarts nc between connections.
_CONNECT = 'for i in $(seq 40); do r=$(nc -w 2 {addr} {port} </dev/null) && [ -n "$r" ] && echo "$r" && exit 0; sleep 0.2; done; exit 1'  # noqa: E501


def _gateway(env: dict[str, str], network: str) -> str:
    return str(json.loads(_docker(env, "network", "inspect", network).stdout)[0]["IPAM"]["Config"][0]["Gateway"])


def test_published_port_through_the_gateway_from_itself_and_a_neighbour(
    docker_cli: dict[str, str], user_network: str
) -> None:
    srv, other = f"srv-{uuid.uuid4().hex[:6]}", f"nb-{uuid.uuid4().hex[:6]}"
    _docker(
        docker_cli, "run", "-d", "--name", srv, "--network", user_network, "-p", "7000", "busybox",
        "sh", "-c", "while true; do nc -l -p 7000 -e sh -c 'echo pong-from-$(hostname)'; done",
    )  # fmt: skip
    port = _docker(docker_cli, "port", srv, "7000/tcp").stdout.split()[0].rsplit(":", 1)[1]
    gw = _gateway(docker_cli, user_network)
    host_gw = _gateway(docker_cli, "bridge")  # another of the host's addresses
    srv_host = _docker(docker_cli, "inspect", "-f", "{{.Config.Hostname}}", srv).stdout.strip()

    # The publishing container, to its own published port: out of its bridge port and back in.
    for addr in (gw, host_gw):
        r = _docker(docker_cli, "exec", srv, "sh", "-c", _CONNECT.format(addr=addr, port=port), check=False)
        assert f"pong-from-{srv_host}" in r.stdout, (addr, r.stdout, r.stderr)

    # A neighbour on the same network, and one on the default bridge.
    _docker(docker_cli, "run", "-d", "--name", other, "--network", user_network, "busybox", "sleep", "600")
    for addr in (gw, host_gw):
        r = _docker(docker_cli, "exec", other, "sh", "-c", _CONNECT.format(addr=addr, port=port), check=False)
        assert f"pong-from-{srv_host}" in r.stdout, (addr, r.stdout, r.stderr)
    r = _docker(docker_cli, "run", "--rm", "busybox", "sh", "-c", _CONNECT.format(addr=host_gw, port=port), check=False)
    assert f"pong-from-{srv_host}" in r.stdout, (r.stdout, r.stderr)
