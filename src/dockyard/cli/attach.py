"""Pumping a hijacked attach stream to and from the local stdio."""

from __future__ import annotations

import os
import threading
from typing import BinaryIO, Protocol

from dockyard.client.streams import STDERR, FrameDecoder

__all__ = ["RawStream", "pump"]


class RawStream(Protocol):
    """The role of a hijacked connection the pump needs."""

    def recv(self, n: int = 65536) -> bytes: ...
    def sendall(self, data: bytes) -> None: ...
    def close_write(self) -> None: ...


def _write(out: BinaryIO, data: bytes) -> None:
    out.write(data)
    out.flush()


def _forward_stdin(stream: RawStream, stdin_fd: int) -> None:
    try:
        while data := os.read(stdin_fd, 65536):
            stream.sendall(data)
    except OSError:
        pass  # the container went away or stdin closed under us
    finally:
        stream.close_write()


def pump(stream: RawStream, *, tty: bool, stdout: BinaryIO, stderr: BinaryIO, stdin_fd: int | None = None) -> None:
    """Copy output until the daemon closes the stream; forward stdin (then half-close) meanwhile.

    Without a TTY the output is framed (stdout and stderr told apart); with one it is raw.
    Detach keys are the daemon's business (as in Docker): closing the connection
    here would close a StdinOnce container's stdin.
    """
    if stdin_fd is not None:
        # A daemon thread: a blocking read on the terminal must not hold the exit.
        threading.Thread(target=_forward_stdin, args=(stream, stdin_fd), daemon=True).start()
    decoder = None if tty else FrameDecoder()
    while data := stream.recv(65536):
        if decoder is None:
            _write(stdout, data)
            continue
        for fd, payload in decoder.feed(data):
            _write(stderr if fd == STDERR else stdout, payload)
