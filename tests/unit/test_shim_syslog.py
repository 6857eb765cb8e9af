"""The shim's syslog writer: dockerd's message formats, priorities and transports."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator

import pytest

from dockyard.shim.syslog import SyslogLog, format_message, parse_address, priority

NS = 1_700_000_000_123_456_789  # 2023-11-14T22:13:20.123456789Z


@pytest.fixture(autouse=True)
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()  # the process's zone again, for the tests after these


def test_priorities_by_stream_and_facility() -> None:
    assert priority("daemon", "stdout") == 30  # daemon.info
    assert priority("daemon", "stderr") == 27  # daemon.err
    assert priority("local7", "stdout") == 190
    assert priority("", "stdout") == 30


def test_dockerds_formats() -> None:
    args = (30, NS, "host1", "web", 42, "hello world")
    assert format_message("", *args) == "<30>Nov 14 22:13:20 web[42]: hello world"
    assert format_message("rfc3164", *args) == "<30>Nov 14 22:13:20 host1 web[42]: hello world"
    assert format_message("rfc5424", *args) == "<30>1 2023-11-14T22:13:20Z host1 web 42 web - hello world"
    assert format_message("rfc5424micro", *args) == "<30>1 2023-11-14T22:13:20.123456Z host1 web 42 web - hello world"
    early = 1_700_006_400 * 10**9 - 11 * 86400 * 10**9  # Nov  4: a one-digit day is padded with a space
    assert format_message("", 30, early, "h", "t", 1, "m").startswith("<30>Nov  4 ")


def test_addresses() -> None:
    assert parse_address("") == (socket.AF_UNIX, socket.SOCK_DGRAM, "/dev/log")
    assert parse_address("udp://127.0.0.1") == (socket.AF_INET, socket.SOCK_DGRAM, ("127.0.0.1", 514))
    assert parse_address("tcp://127.0.0.1:601") == (socket.AF_INET, socket.SOCK_STREAM, ("127.0.0.1", 601))
    assert parse_address("tcp://[::1]:601") == (socket.AF_INET6, socket.SOCK_STREAM, ("::1", 601))
    assert parse_address("unix:///run/s") == (socket.AF_UNIX, socket.SOCK_STREAM, "/run/s")
    with pytest.raises(ValueError, match="scheme"):
        parse_address("http://x")


def test_lines_go_out_as_datagrams(tmp_path: os.PathLike[str]) -> None:
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("127.0.0.1", 0))
    server.settimeout(5)
    try:
        port = server.getsockname()[1]
        log = SyslogLog(f"udp://127.0.0.1:{port}", "local0", "rfc3164", "tagged", clock=lambda: NS)
        log.write("stdout", b"one\ntw")
        log.write("stderr", b"oops\n")
        log.write("stdout", b"o")  # the partial line waits for its end
        log.close()  # ... or for the stream's end
        got = [server.recv(4096).decode() for _ in range(3)]
    finally:
        server.close()
    host = socket.gethostname()
    pid = os.getpid()
    assert got == [
        f"<134>Nov 14 22:13:20 {host} tagged[{pid}]: one",
        f"<131>Nov 14 22:13:20 {host} tagged[{pid}]: oops",
        f"<134>Nov 14 22:13:20 {host} tagged[{pid}]: two",
    ]


def test_stream_transports_end_messages_with_a_newline() -> None:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(5)
    try:
        log = SyslogLog(f"tcp://127.0.0.1:{server.getsockname()[1]}", "", "rfc5424", "t", clock=lambda: NS)
        conn, _ = server.accept()
        log.write("stdout", b"a\nb\n")
        log.close()
        conn.settimeout(5)
        data = b""
        while chunk := conn.recv(4096):
            data += chunk
        conn.close()
    finally:
        server.close()
    lines = data.decode().split("\n")
    assert lines[2] == "" and len(lines) == 3
    assert lines[0].endswith(" t - a") and lines[1].endswith(" t - b")


def test_an_unreachable_collector_fails_when_made() -> None:
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there now
    with pytest.raises(OSError):
        SyslogLog(f"tcp://127.0.0.1:{port}")
