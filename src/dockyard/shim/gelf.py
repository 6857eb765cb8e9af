"""Docker's ``gelf`` log driver: each log line is one GELF 1.1 message (Graylog, Logstash ...).

As dockerd sends them: ``short_message`` is the line, ``level`` 6 for stdout and 3 for
stderr, and the container's identity in ``_container_id``, ``_container_name``,
``_image_id``, ``_image_name``, ``_command``, ``_tag`` and ``_created``. Over UDP a
message is compressed (gzip by default, zlib or none) and cut into GELF chunks when it
does not fit one datagram; over TCP it is uncompressed and ends with a NUL byte.
"""

from __future__ import annotations

import gzip
import json
import os
import socket
import time
import zlib
from collections.abc import Callable, Mapping

from dockyard.shim.remotelog import RemoteLog

__all__ = ["CHUNK_SIZE", "GelfLog", "chunks", "encode_message"]

CHUNK_SIZE = 1420  # bytes of payload per datagram, as dockerd's GELF writer uses
_MAX_CHUNKS = 128  # the GELF limit; a larger message is dropped
_CHUNK_MAGIC = b"\x1e\x0f"


def encode_message(
    line: bytes, stream: str, ns: int, hostname: str, extra: Mapping[str, str], version: str = "1.1"
) -> bytes:
    """One GELF message (JSON) for a log line."""
    msg: dict[str, object] = {
        "version": version,
        "host": hostname,
        "short_message": line.rstrip(b"\n").decode("utf-8", "replace"),
        "timestamp": round(ns / 1e9, 6),
        "level": 3 if stream == "stderr" else 6,
    }
    msg.update({f"_{k}": v for k, v in extra.items()})
    return json.dumps(msg, separators=(",", ":")).encode()


def compress(data: bytes, kind: str, level: int = -1) -> bytes:
    if kind in ("", "gzip"):
        return gzip.compress(data, compresslevel=9 if level < 0 else level, mtime=0)
    if kind == "zlib":
        return zlib.compress(data, level)
    if kind == "none":
        return data
    raise ValueError(f"unknown gelf-compression-type {kind!r}")


def chunks(data: bytes, message_id: bytes, size: int = CHUNK_SIZE) -> list[bytes]:
    """``data`` as datagrams: itself when it fits, else GELF chunks (magic, id, index, count, part)."""
    if len(data) <= size:
        return [data]
    parts = [data[i : i + size] for i in range(0, len(data), size)]
    if len(parts) > _MAX_CHUNKS:
        return []
    return [_CHUNK_MAGIC + message_id + bytes((i, len(parts))) + part for i, part in enumerate(parts)]


def parse_address(address: str) -> tuple[int, int, tuple[str, int]]:
    """``gelf-address`` (``udp://host:port`` or ``tcp://host:port``) -> family, socket type, address."""
    scheme, sep, rest = address.partition("://")
    if not sep or scheme not in ("udp", "tcp"):
        raise ValueError(f"gelf-address {address!r}: use udp://host:port or tcp://host:port")
    host, colon, port = rest.rpartition(":")
    if not colon or not port.isdigit():
        raise ValueError(f"gelf-address {address!r}: a port is required")
    host = host.strip("[]")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return family, socket.SOCK_STREAM if scheme == "tcp" else socket.SOCK_DGRAM, (host, int(port))


class GelfLog(RemoteLog):
    """Sends each log line as a GELF message to ``address``."""

    def __init__(
        self,
        address: str,
        extra: Mapping[str, str],
        compression: str = "gzip",
        level: int = -1,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        compress(b"", compression, level)  # an unknown type fails here, at start
        super().__init__(*parse_address(address), clock=clock)
        self._compression, self._level = compression, level
        self._extra = dict(extra)
        self._hostname = socket.gethostname()

    def _emit(self, stream: str, data: bytes, ns: int) -> None:
        msg = encode_message(data, stream, ns, self._hostname, self._extra)
        if self.stream_transport:
            self._send([msg + b"\0"])  # GELF over TCP: uncompressed, NUL-terminated
        else:
            self._send(chunks(compress(msg, self._compression, self._level), os.urandom(8)))
