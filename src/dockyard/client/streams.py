"""Decoding Docker's streamed bodies: multiplexed stdio frames and JSON messages."""

from __future__ import annotations

import json
import struct
from collections.abc import Callable, Iterator
from typing import Any

from dockyard.client.errors import ProtocolError

__all__ = [
    "MULTIPLEXED_CONTENT_TYPE",
    "RAW_CONTENT_TYPE",
    "STDERR",
    "STDIN",
    "STDOUT",
    "FrameDecoder",
    "JSONStreamDecoder",
    "encode_frame",
    "iter_frames",
    "iter_json_messages",
]

STDIN, STDOUT, STDERR = 0, 1, 2
_HEADER = struct.Struct(">BxxxL")
MULTIPLEXED_CONTENT_TYPE = "application/vnd.docker.multiplexed-stream"
RAW_CONTENT_TYPE = "application/vnd.docker.raw-stream"

Reader = Callable[[int], bytes]


def encode_frame(stream: int, data: bytes) -> bytes:
    """One frame: byte 0 the stream, bytes 4-7 the big-endian payload length."""
    return _HEADER.pack(stream, len(data)) + data


class FrameDecoder:
    """Incremental demultiplexer: feed any chunking, get whole ``(stream, payload)`` frames."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        self._buf += data
        out: list[tuple[int, bytes]] = []
        while len(self._buf) >= _HEADER.size:
            stream, length = _HEADER.unpack_from(self._buf)
            if stream not in (STDIN, STDOUT, STDERR):
                raise ProtocolError(f"invalid stream id {stream} in multiplexed stream")
            end = _HEADER.size + length
            if len(self._buf) < end:
                break
            out.append((stream, bytes(self._buf[_HEADER.size : end])))
            del self._buf[:end]
        return out

    @property
    def pending(self) -> int:
        """Bytes held back waiting for the rest of a frame."""
        return len(self._buf)


def iter_frames(read: Reader, chunk_size: int = 65536) -> Iterator[tuple[int, bytes]]:
    """Frames from a reader until EOF; a truncated last frame is an error."""
    dec = FrameDecoder()
    while True:
        data = read(chunk_size)
        if not data:
            if dec.pending:
                raise ProtocolError("multiplexed stream ended inside a frame")
            return
        yield from dec.feed(data)


class JSONStreamDecoder:
    """Incremental decoder of concatenated JSON values (newline-separated or not)."""

    def __init__(self) -> None:
        self._buf = ""
        self._dec = json.JSONDecoder()
        self._bytes = bytearray()

    def feed(self, data: bytes) -> list[Any]:
        self._bytes += data
        # Only decode up to the last complete UTF-8 sequence: a split character waits.
        try:
            text = self._bytes.decode()
            self._bytes.clear()
        except UnicodeDecodeError as exc:
            if exc.start < len(self._bytes) - 3:
                raise ProtocolError(f"invalid UTF-8 in JSON stream: {exc}") from None
            text = self._bytes[: exc.start].decode()
            del self._bytes[: exc.start]
        self._buf += text
        out: list[Any] = []
        while True:
            s = self._buf.lstrip()
            if not s:
                self._buf = ""
                break
            try:
                obj, end = self._dec.raw_decode(s)
            except json.JSONDecodeError:
                self._buf = s
                break
            out.append(obj)
            self._buf = s[end:]
        return out

    def close(self) -> None:
        if self._buf.strip() or self._bytes:
            raise ProtocolError(f"JSON stream ended with an incomplete value: {self._buf[:80]!r}")


def iter_json_messages(read: Reader, chunk_size: int = 65536) -> Iterator[Any]:
    """Each JSON value of a streamed body, as soon as it is complete."""
    dec = JSONStreamDecoder()
    while True:
        data = read(chunk_size)
        if not data:
            dec.close()
            return
        yield from dec.feed(data)
