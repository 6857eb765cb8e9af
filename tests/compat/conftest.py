"""Fixtures the compat suites share."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from dockyard.testing.daemon import DaemonProcess
from dockyard.testing.docker_cli import docker


@pytest.fixture
def user_network(clean_daemon: DaemonProcess, docker_cli: dict[str, str]) -> Iterator[str]:
    """A user-defined bridge network on the session daemon; containers and the network go afterwards."""
    name = f"net-{uuid.uuid4().hex[:6]}"
    docker(docker_cli, "network", "create", name)
    try:
        yield name
    finally:
        clean_daemon.remove_all_containers()
        with contextlib.suppress(Exception):
            docker(docker_cli, "network", "rm", name, check=False)


@pytest.fixture
def client(clean_daemon: DaemonProcess) -> Iterator[Any]:
    """A docker-py client of the session daemon (suites with other needs define their own ``client``)."""
    docker = pytest.importorskip("docker")
    c = docker.DockerClient(base_url=clean_daemon.host, timeout=60)
    try:
        yield c
    finally:
        c.close()
