"""What the network log drivers (syslog, gelf) share: a connection to the collector, kept alive."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Sequence

from dockyard.shim.jsonlog import LineLog

__all__ = ["RemoteLog"]

_SEND_TIMEOUT = 1.0  # seconds: a stalled collector may lose lines, never stall the container's output


class RemoteLog(LineLog):
    """Connects when made (a bad address fails at start); a collector that restarted is reconnected
    once per line, as dockerd's clients do, and while it is away lines are lost rather than the
    container's output held up."""

    def __init__(
        self, family: int, kind: int, where: str | tuple[str, int], clock: Callable[[], int] = time.time_ns
    ) -> None:
        super().__init__(clock)
        self._family, self._kind, self._where = family, kind, where
        self._sock: socket.socket | None = self._connect()

    @property
    def stream_transport(self) -> bool:
        return self._kind == socket.SOCK_STREAM

    def _connect(self) -> socket.socket:
        sock = socket.socket(self._family, self._kind | socket.SOCK_CLOEXEC)
        try:
            sock.settimeout(_SEND_TIMEOUT)
            sock.connect(self._where)
        except OSError:
            sock.close()
            raise
        return sock

    def _send(self, payloads: Sequence[bytes]) -> None:
        for attempt in range(2):
            try:
                if self._sock is None:
                    self._sock = self._connect()
                for p in payloads:
                    self._sock.sendall(p)
                return
            except TimeoutError:
                return
            except OSError:
                self._drop()
                if attempt:
                    return

    def _drop(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def _release(self) -> None:
        self._drop()
