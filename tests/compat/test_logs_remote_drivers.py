"""``--log-driver syslog`` and ``gelf`` through the docker CLI: each line reaches a collector the test runs on
127.0.0.1."""

from __future__ import annotations

import gzip
import json
import re
import socket
from collections.abc import Iterator

import pytest

from dockyard.testing.docker_cli import docker

pytestmark = [pytest.mark.compat, pytest.mark.root]


@pytest.fixture
def udp_collector() -> Iterator[socket.socket]:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(10)
    try:
        yield s
    finally:
        s.close()


def _receive(s: socket.socket, n: int) -> list[str]:
    return [s.recv(65536).decode() for _ in range(n)]


def test_lines_reach_the_collector_with_dockerds_priorities(
    docker_cli: dict[str, str], udp_collector: socket.socket
) -> None:
    port = udp_collector.getsockname()[1]
    docker(
        docker_cli, "run", "--rm", "--name", "sysloggy", "--log-driver", "syslog",
        "--log-opt", f"syslog-address=udp://127.0.0.1:{port}", "--log-opt", "tag={{.Name}}",
        "--log-opt", "syslog-facility=local3", "--log-opt", "syslog-format=rfc5424micro",
        "busybox", "sh", "-c", "echo out-line; echo err-line >&2",
    )  # fmt: skip
    got = sorted(_receive(udp_collector, 2))
    pattern = r"<(\d+)>1 \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}(Z|[+-]\d\d:\d\d) \S+ sysloggy \d+ sysloggy - (\S+)$"
    parsed = sorted((int(m.group(1)), m.group(3)) for m in (re.match(pattern, line) for line in got) if m)
    assert parsed == [(155, "err-line"), (158, "out-line")], got  # local3.err, local3.info


def test_the_default_tag_is_the_short_id_and_logs_read_back_from_the_local_cache(
    docker_cli: dict[str, str], udp_collector: socket.socket
) -> None:
    port = udp_collector.getsockname()[1]
    address = f"syslog-address=udp://127.0.0.1:{port}"
    cid = docker(
        docker_cli, "run", "-d", "--log-driver", "syslog", "--log-opt", address,
        "busybox", "sh", "-c", "echo hello; sleep 30",
    ).stdout.strip()  # fmt: skip
    uncached = docker(
        docker_cli, "run", "-d", "--log-driver", "syslog", "--log-opt", address, "--log-opt", "cache-disabled=true",
        "busybox", "sh", "-c", "echo quiet; sleep 30",
    ).stdout.strip()  # fmt: skip
    try:
        got = _receive(udp_collector, 2)
        line = next(x for x in got if x.endswith("hello"))
        assert re.fullmatch(rf"<30>\w{{3}} [ \d]\d \d\d:\d\d:\d\d {cid[:12]}\[\d+\]: hello", line), line
        # dockerd's dual logging: `docker logs` reads the local cache of a remote driver ...
        assert docker(docker_cli, "logs", cid).stdout == "hello\n"
        # ... unless the cache is off
        r = docker(docker_cli, "logs", uncached, check=False)
        assert r.returncode != 0 and "does not support reading" in r.stderr
    finally:
        docker(docker_cli, "rm", "-f", cid, uncached, check=False)


def test_missing_drivers_and_bad_options_are_refused_at_create(docker_cli: dict[str, str]) -> None:
    r = docker(docker_cli, "create", "--log-driver", "fluentd", "busybox", "true", check=False)
    assert r.returncode != 0 and "the fluentd log driver is not available in dockyard" in r.stderr
    r = docker(docker_cli, "create", "--log-driver", "gelf", "busybox", "true", check=False)
    assert r.returncode != 0 and "gelf-address is a required parameter" in r.stderr
    r = docker(docker_cli, "create", "--log-driver", "syslog", "--log-opt", "syslog-format=xml", "busybox", check=False)
    assert r.returncode != 0 and "Invalid syslog format" in r.stderr


def _tcp_collector(port: int = 0) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(1)
    s.settimeout(10)
    return s


def _read_until(conn: socket.socket, text: str) -> str:
    conn.settimeout(10)
    data = ""
    while text not in data:
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk.decode()
    return data


def test_a_collector_that_restarts_gets_the_lines_after_it(docker_cli: dict[str, str]) -> None:
    first = _tcp_collector()
    port = first.getsockname()[1]
    script = (
        "echo before; while [ ! -e /tmp/go ]; do sleep 0.1; done; for i in $(seq 50); do echo after $i; sleep 0.1; done"
    )
    cid = docker(
        docker_cli, "run", "-d", "--log-driver", "syslog", "--log-opt", f"syslog-address=tcp://127.0.0.1:{port}",
        "busybox", "sh", "-c", script,
    ).stdout.strip()  # fmt: skip
    second: socket.socket | None = None
    try:
        conn, _ = first.accept()
        assert "before\n" in _read_until(conn, "before\n")
        conn.close()
        first.close()  # the collector goes away ...
        second = _tcp_collector(port)  # ... and comes back on the same port
        docker(docker_cli, "exec", cid, "touch", "/tmp/go")
        conn2, _ = second.accept()
        got = _read_until(conn2, "after 50\n")
        conn2.close()
        assert "after 50\n" in got  # the shim reconnected and the container kept running
    finally:
        docker(docker_cli, "rm", "-f", cid, check=False)
        first.close()
        if second is not None:
            second.close()


def test_gelf_messages_carry_the_container(docker_cli: dict[str, str], udp_collector: socket.socket) -> None:
    port = udp_collector.getsockname()[1]
    name = "gelfy"
    cid = docker(
        docker_cli, "run", "-d", "--name", name, "--log-driver", "gelf",
        "--log-opt", f"gelf-address=udp://127.0.0.1:{port}", "--log-opt", "tag={{.Name}}",
        "busybox", "sh", "-c", "echo from-gelf; " + "echo " + "y" * 3000 + "; sleep 30",
    ).stdout.strip()  # fmt: skip
    try:
        messages = [json.loads(gzip.decompress(d)) for d in _receive_bytes(udp_collector, 2)]
        first = next(m for m in messages if m["short_message"] == "from-gelf")
        assert first["_container_id"] == cid and first["_container_name"] == name and first["_tag"] == name
        assert first["_image_name"] == "busybox" and first["level"] == 6 and first["version"] == "1.1"
        assert any(m["short_message"] == "y" * 3000 for m in messages)  # compressed, it fits one datagram
        assert "from-gelf" in docker(docker_cli, "logs", cid).stdout  # the local cache again
    finally:
        docker(docker_cli, "rm", "-f", cid, check=False)


def _receive_bytes(s: socket.socket, n: int) -> list[bytes]:
    return [s.recv(65536) for _ in range(n)]
