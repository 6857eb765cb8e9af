"""The Engine API's connection hijack (attach, exec start).

After ``101 UPGRADED`` the HTTP connection becomes a raw, two-way byte pipe:
the client's stdin comes in, the container's output goes out (8-byte framed
when there is no TTY). aiohttp has no public API for this, so we install a
payload parser on the protocol, as its own WebSocket support does, and keep
the transport open on a half-close so ``docker run -i`` can send EOF and
still read the output.
"""

from __future__ import annotations

import asyncio
import struct
from typing import Any

from aiohttp import web

__all__ = ["Hijacked", "frame", "hijack"]


def frame(stream: int, data: bytes) -> bytes:
    """Docker's multiplexed-stream header: stream byte, 3 zero bytes, big-endian length."""
    return struct.pack(">BxxxI", stream, len(data)) + data


class _RawParser:
    """Receives the client's bytes after the upgrade."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self._reader = reader

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        self._reader.feed_data(data)
        return False, b""

    def feed_eof(self) -> None:
        if not self._reader.at_eof():
            self._reader.feed_eof()


class _HalfOpen(asyncio.Protocol):
    """Forwards to aiohttp's protocol but turns the client's EOF into end-of-stdin."""

    def __init__(self, inner: Any, parser: _RawParser) -> None:
        self._inner = inner
        self._parser = parser

    def data_received(self, data: bytes) -> None:
        self._inner.data_received(data)

    def eof_received(self) -> bool:
        self._parser.feed_eof()
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self._parser.feed_eof()
        self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()


class Hijacked:
    """A hijacked connection: ``stdin`` reader and raw ``write``/``close``."""

    def __init__(self, request: web.Request, stdin: asyncio.StreamReader, response: web.StreamResponse) -> None:
        self._request = request
        self.response = response  # already sent; return it from the handler
        self.stdin = stdin
        transport = request.transport
        assert transport is not None
        self._transport: asyncio.Transport = transport  # type: ignore[assignment]

    @property
    def closed(self) -> bool:
        return self._transport.is_closing()

    async def write(self, data: bytes) -> None:
        if not data or self._transport.is_closing():
            return
        self._transport.write(data)
        proto: Any = self._request.protocol
        # Respect flow control so a slow client doesn't make us buffer forever.
        drain = getattr(proto, "_drain_helper", None)
        if drain is not None:
            try:
                await drain()
            except (ConnectionResetError, ConnectionError):
                pass

    def close(self) -> None:
        if not self._transport.is_closing():
            self._transport.close()


async def hijack(request: web.Request, *, multiplexed: bool) -> Hijacked:
    """Answer ``101 UPGRADED`` and take over the connection."""
    loop = asyncio.get_running_loop()
    stdin = asyncio.StreamReader(limit=1 << 20, loop=loop)
    proto: Any = request.protocol
    parser = _RawParser(stdin)
    ctype = "application/vnd.docker.multiplexed-stream" if multiplexed else "application/vnd.docker.raw-stream"
    # Always 101: the docker CLI and docker-py ask to upgrade, and a 1xx answer
    # carries no body framing that raw writes could corrupt.
    resp = web.StreamResponse(status=101, reason="UPGRADED")
    resp.headers["Connection"] = "Upgrade"
    resp.headers["Upgrade"] = request.headers.get("Upgrade", "tcp")
    resp.headers["Content-Type"] = ctype
    await resp.prepare(request)
    proto.set_parser(parser)

    # aiohttp's protocol closes the transport on EOF; keep it half-open instead,
    # so the client can end stdin and still read the output.
    transport = request.transport
    assert transport is not None
    transport.set_protocol(_HalfOpen(proto, parser))
    return Hijacked(request, stdin, resp)
