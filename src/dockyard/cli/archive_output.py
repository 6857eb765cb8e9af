"""Where ``save`` and ``export`` put the tar the daemon streams: STDOUT, or a file written whole or not at all."""

from __future__ import annotations

import os
import sys
from typing import IO, Protocol

from dockyard import errors

__all__ = ["refuse_terminal", "write_archive"]

_CHUNK = 1 << 20


class _Body(Protocol):
    def read1(self, n: int = -1, /) -> bytes: ...

    def close(self) -> None: ...


def refuse_terminal(output: str | None) -> None:
    """As docker: a tar is never written to a terminal (check before asking the daemon)."""
    if output is None and sys.stdout.isatty():
        raise errors.InvalidArgument("cowardly refusing to save to a terminal. Use the -o flag or redirect")


def _copy(body: _Body, out: IO[bytes]) -> int:
    size = 0
    while chunk := body.read1(_CHUNK):
        out.write(chunk)
        size += len(chunk)
    out.flush()
    return size


def write_archive(body: _Body, output: str | None) -> int:
    """Copy ``body`` to ``output`` (STDOUT when ``None``) and close it; the bytes written."""
    try:
        if output is None:
            return _copy(body, sys.stdout.buffer)
        tmp = f"{output}.tmp-{os.getpid()}"
        try:
            with open(tmp, "wb") as f:
                size = _copy(body, f)
            os.replace(tmp, output)  # no half-written archive under the real name
            return size
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    finally:
        body.close()
