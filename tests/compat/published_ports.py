"""A container publishing two ports, and the checks that they answer, for each firewall backend's tests."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from collections.abc import Callable

Docker = Callable[..., subprocess.CompletedProcess[str]]

_SERVER = "(while true; do echo one | nc -l -p 8000; done) & while true; do echo two | nc -l -p 8001; done"


def wait_until(pred: Callable[[], bool], timeout: float = 20) -> bool:
    """Poll ``pred`` every 0.1 s; whether it held within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.1)
    return False


def fetch(host: str, port: int) -> bytes:
    """The first bytes a TCP server at ``host:port`` sends, or b"" when it cannot be reached."""
    try:
        with socket.create_connection((host, port), timeout=3) as s:
            return s.recv(100)
    except OSError:
        return b""


def run_two_port_server(docker: Docker, name: str) -> tuple[int, int]:
    """Container ``name`` answers "one" on 8000 (published on 127.0.0.1) and "two" on 8001; the host ports."""
    docker("run", "-d", "--name", name, "-p", "127.0.0.1::8000", "-p", "8001", "busybox", "sh", "-c", _SERVER)
    ports = json.loads(docker("inspect", "-f", "{{json .NetworkSettings.Ports}}", name).stdout)
    return int(ports["8000/tcp"][0]["HostPort"]), int(ports["8001/tcp"][0]["HostPort"])


def assert_published_ports_answer(docker: Docker, gateway: str, loopback_port: int, any_port: int) -> None:
    """From the host on 127.0.0.1 and the bridge address, and from another container through the bridge."""
    assert wait_until(lambda: fetch("127.0.0.1", loopback_port) == b"one\n")
    assert wait_until(lambda: fetch(gateway, any_port) == b"two\n")
    r = docker(
        "run", "--rm", "busybox", "sh", "-c",
        f"for i in $(seq 30); do nc {gateway} {any_port} </dev/null && exit 0; sleep 0.2; done; exit 1",
    )  # fmt: skip
    assert "two" in r.stdout
