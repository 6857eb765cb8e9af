"""The hijacked connection behind attach and exec start.

The request asks for ``Connection: Upgrade`` / ``Upgrade: tcp``; after the
daemon's ``101 UPGRADED`` (or a plain 200) the socket carries the container's
stdio both ways with no HTTP framing at all, so it is used raw.
"""

from __future__ import annotations

import json
import socket

from dockyard.client.errors import ProtocolError, api_error

__all__ = ["HijackedStream", "hijack"]

_MAX_HEAD = 64 * 1024


class HijackedStream:
    """A raw bidirectional byte stream, with any bytes read past the HTTP head kept."""

    def __init__(self, sock: socket.socket, buffered: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.sock = sock
        self._buffered = buffered
        self.headers = headers or {}

    def fileno(self) -> int:
        return self.sock.fileno()

    def recv(self, n: int = 65536) -> bytes:
        """Up to ``n`` bytes; ``b""`` at EOF."""
        if self._buffered:
            data, self._buffered = self._buffered[:n], self._buffered[n:]
            return data
        try:
            return self.sock.recv(n)
        except ConnectionResetError:
            return b""

    def sendall(self, data: bytes) -> None:
        self.sock.sendall(data)

    def close_write(self) -> None:
        """Half-close: the container's stdin sees EOF, output keeps flowing."""
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def shutdown(self) -> None:
        """End both directions now; a thread blocked in ``recv`` sees EOF."""
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> HijackedStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _read_head(sock: socket.socket) -> tuple[bytes, bytes]:
    buf = b""
    while b"\r\n\r\n" not in buf:
        if len(buf) > _MAX_HEAD:
            raise ProtocolError("response head too large on hijacked connection")
        data = sock.recv(65536)
        if not data:
            raise ProtocolError("connection closed before the daemon answered the upgrade")
        buf += data
    head, _, rest = buf.partition(b"\r\n\r\n")
    return head, rest


def _parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise ProtocolError(f"bad status line {lines[0]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return int(parts[1]), headers


def _read_error_body(sock: socket.socket, rest: bytes, headers: dict[str, str]) -> str:
    length = int(headers.get("content-length", "0") or 0)
    body = rest
    sock.settimeout(10)
    while len(body) < length:
        data = sock.recv(65536)
        if not data:
            break
        body += data
    try:
        msg = json.loads(body).get("message")
        if isinstance(msg, str):
            return msg
    except (ValueError, AttributeError):
        pass
    return body.decode(errors="replace").strip()


def hijack(sock: socket.socket, method: str, target: str, body: bytes | None = None) -> HijackedStream:
    """Send the upgrade request on a connected ``sock`` and return the raw stream."""
    lines = [
        f"{method} {target} HTTP/1.1",
        "Host: localhost",
        "User-Agent: dockyard-cli",
        "Connection: Upgrade",
        "Upgrade: tcp",
    ]
    if body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    else:
        lines.append("Content-Length: 0")
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b""))
    head, rest = _read_head(sock)
    status, headers = _parse_head(head)
    if status >= 400:
        msg = _read_error_body(sock, rest, headers)
        sock.close()
        raise api_error(status, msg)
    if status not in (101, 200):
        sock.close()
        raise ProtocolError(f"unexpected status {status} for a hijacked request")
    return HijackedStream(sock, rest, headers)
