"""The shim's GELF writer: messages, compression, chunking, transports."""

from __future__ import annotations

import gzip
import json
import socket
import zlib

import pytest

from dockyard.shim.gelf import CHUNK_SIZE, GelfLog, chunks, compress, encode_message

NS = 1_700_000_000_123_456_789


def test_a_message_is_gelf_1_1_with_dockerds_fields() -> None:
    msg = json.loads(encode_message(b"hello\n", "stderr", NS, "host1", {"container_name": "web", "tag": "t"}))
    assert msg == {
        "version": "1.1",
        "host": "host1",
        "short_message": "hello",
        "timestamp": 1700000000.123457,
        "level": 3,
        "_container_name": "web",
        "_tag": "t",
    }
    assert json.loads(encode_message(b"x", "stdout", NS, "h", {}))["level"] == 6


def test_compression_kinds() -> None:
    data = b'{"a":1}' * 10
    assert gzip.decompress(compress(data, "gzip")) == data
    assert zlib.decompress(compress(data, "zlib")) == data
    assert compress(data, "none") == data
    with pytest.raises(ValueError):
        compress(data, "lz4")


def test_large_messages_are_chunked() -> None:
    data = bytes(range(256)) * 20  # 5120 bytes: 4 chunks
    parts = chunks(data, b"12345678")
    assert len(parts) == 4
    assert all(p[:2] == b"\x1e\x0f" and p[2:10] == b"12345678" for p in parts)
    assert [p[10] for p in parts] == [0, 1, 2, 3] and {p[11] for p in parts} == {4}
    assert b"".join(p[12:] for p in parts) == data
    assert chunks(b"small", b"12345678") == [b"small"]
    assert chunks(b"x" * (CHUNK_SIZE * 129), b"12345678") == []  # over GELF's 128 chunks: dropped


def test_udp_and_tcp_delivery() -> None:
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    udp.settimeout(5)
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp.bind(("127.0.0.1", 0))
    tcp.listen(1)
    tcp.settimeout(5)
    try:
        log = GelfLog(f"udp://127.0.0.1:{udp.getsockname()[1]}", {"tag": "u"}, "gzip", clock=lambda: NS)
        log.write("stdout", b"over udp\n")
        log.close()
        got = json.loads(gzip.decompress(udp.recv(65536)))
        assert got["short_message"] == "over udp" and got["_tag"] == "u"
        log = GelfLog(f"tcp://127.0.0.1:{tcp.getsockname()[1]}", {}, "gzip", clock=lambda: NS)
        conn, _ = tcp.accept()
        log.write("stdout", b"a\nb\n")
        log.close()
        conn.settimeout(5)
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
        conn.close()
        messages = [json.loads(m) for m in data.split(b"\0") if m]  # uncompressed, NUL-terminated
        assert [m["short_message"] for m in messages] == ["a", "b"]
    finally:
        udp.close()
        tcp.close()
