"""dockyardd as a process: TCP hosts, pid file, one daemon per data root, clean shutdown."""

from __future__ import annotations

import json
import os
import socket
import urllib.request
from collections.abc import Iterator

import pytest

from dockyard.testing.daemon import DaemonProcess

pytestmark = [pytest.mark.root]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def tcp_daemon() -> Iterator[tuple[DaemonProcess, int, str]]:
    port = free_port()
    d = DaemonProcess()
    pidfile = os.path.join(d.root, "d.pid")
    d.extra_args = ("-H", f"tcp://127.0.0.1:{port}", "--pidfile", pidfile)
    try:
        d.start()
        yield d, port, pidfile
    finally:
        d.destroy()


def test_tcp_host_and_pidfile(tcp_daemon: tuple[DaemonProcess, int, str]) -> None:
    d, port, pidfile = tcp_daemon
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1.44/version", timeout=10) as r:
        assert json.load(r)["ApiVersion"] == "1.44"
    with open(pidfile) as f:
        assert int(f.read()) == d.proc.pid  # type: ignore[union-attr]
    assert oct(os.stat(d.socket).st_mode & 0o777) == "0o660"
    d.stop()
    assert not os.path.exists(pidfile)
    assert not os.path.exists(d.socket)
