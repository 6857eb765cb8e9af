"""The wire protocol between the daemon and a shim (stdlib only, pure).

Every connection to ``shim.sock`` opens with one *request* message; the shim
answers with one *response* message. Messages are a 4-byte big-endian length
followed by a UTF-8 JSON object. Responses carry ``{"ok": true, ...}`` or
``{"ok": false, "kind": <error category>, "error": <message>}``.

After a successful ``attach`` the connection carries *frames* both ways: an
8-byte header (stream id, three zero bytes, big-endian length) and the payload,
like Docker's multiplexed attach stream. The shim sends STDOUT/STDERR frames and
closes the connection once the process has exited and all output is delivered;
the client sends STDIN frames and one CLOSE_STDIN frame to half-close.

Requests (``op``): ``create``, ``start``, ``state``, ``kill`` (``signal``,
``all``), ``wait`` (answered when the process exits), ``attach`` (``stdin``,
``stdout``, ``stderr``), ``resize`` (``height``, ``width``), ``delete``
(``force``), and ``exec`` (``exec_id``, ``process``: an OCI process object,
``open_stdin``, ``stdin_once``, ``console_size``). ``start``/``state``/``kill``/
``wait``/``attach``/``resize``/``delete`` with an ``exec_id`` address that exec'd
process instead of the container's init.
"""

from __future__ import annotations

import json
import struct

from dockyard.shim.paths import EXIT_FILE, PID_FILE, RUNTIME_LOG, SHIM_LOG, SOCKET_NAME, SPEC_FILE

__all__ = [
    "CLOSE_STDIN",
    "EXIT_FILE",
    "HEADER_SIZE",
    "MAX_MESSAGE",
    "PID_FILE",
    "RUNTIME_LOG",
    "SHIM_LOG",
    "SOCKET_NAME",
    "SPEC_FILE",
    "STDERR",
    "STDIN",
    "STDOUT",
    "ProtocolError",
    "decode_header",
    "decode_message",
    "encode_frame",
    "encode_message",
    "message_length",
]


# Frame stream ids; 1 and 2 match Docker's attach stream and tasks.api.
STDIN = 0
STDOUT = 1
STDERR = 2
CLOSE_STDIN = 4

HEADER_SIZE = 8
MAX_MESSAGE = 1 << 20  # control messages are small; refuse anything silly

_LEN = struct.Struct(">I")
_HEADER = struct.Struct(">BxxxI")


class ProtocolError(Exception):
    """The peer sent something that is not this protocol."""


def encode_message(obj: dict[str, object]) -> bytes:
    """A length-prefixed JSON message."""
    body = json.dumps(obj, separators=(",", ":")).encode()
    return _LEN.pack(len(body)) + body


def message_length(prefix: bytes) -> int:
    """The body length announced by a 4-byte prefix."""
    (n,) = _LEN.unpack(prefix)
    if n > MAX_MESSAGE:
        raise ProtocolError(f"message of {n} bytes is too large")
    return int(n)


def decode_message(body: bytes) -> dict[str, object]:
    """The JSON object in a message body."""
    try:
        obj = json.loads(body)
    except ValueError as e:
        raise ProtocolError(f"bad message: {e}") from None
    if not isinstance(obj, dict):
        raise ProtocolError("message is not an object")
    return obj


def encode_frame(stream: int, data: bytes) -> bytes:
    """One stream frame: 8-byte header plus payload."""
    return _HEADER.pack(stream, len(data)) + data


def decode_header(header: bytes) -> tuple[int, int]:
    """``(stream, length)`` from an 8-byte frame header."""
    stream, n = _HEADER.unpack(header)
    return int(stream), int(n)
