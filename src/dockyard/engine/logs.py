"""Reading json-file container logs (written by the shim) for /logs and attach."""

from __future__ import annotations

import asyncio
import base64
import json
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import BinaryIO

from dockyard.engine.timefmt import parse_rfc3339

__all__ = ["LogEntry", "LogReader", "log_files", "parse_line", "read_log_entries"]


@dataclass(frozen=True)
class LogEntry:
    stream: str  # "stdout" | "stderr"
    data: bytes
    time: str  # RFC 3339 nano
    attrs: dict[str, str] | None = None

    @property
    def timestamp(self) -> float:
        return parse_rfc3339(self.time)


def parse_line(line: bytes) -> LogEntry | None:
    """One json-file line; None for a torn or foreign line (never raises)."""
    try:
        obj = json.loads(line)
        text = obj["log"]
    except (ValueError, KeyError, TypeError):
        return None
    data = base64.b64decode(obj["logb64"]) if "logb64" in obj else str(text).encode("utf-8", "surrogateescape")
    return LogEntry(str(obj.get("stream", "stdout")), data, str(obj.get("time", "")), obj.get("attrs"))


def log_files(path: str) -> list[str]:
    """The rotated files oldest first, then the live one (``x.2``, ``x.1``, ``x``)."""
    rotated = []
    n = 1
    while os.path.exists(f"{path}.{n}"):
        rotated.append(f"{path}.{n}")
        n += 1
    return [*reversed(rotated), path]


def read_log_entries(path: str) -> list[LogEntry]:
    reader = LogReader(path)
    try:
        return reader.snapshot()
    finally:
        reader.close()


def _parse_complete(data: bytes) -> tuple[list[LogEntry], int]:
    end = data.rfind(b"\n") + 1  # a trailing partial line is still being written
    out = [e for e in (parse_line(line) for line in data[:end].splitlines()) if e is not None]
    return out, end


class LogReader:
    """A container's json-file log, held open from the first read.

    Holding the live file open means a reader that started before the container
    was removed (``docker run --rm``, docker-py's run) still gets every line, and
    following continues exactly where the snapshot ended.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._rotated = log_files(path)[:-1]
        try:
            self._fh: BinaryIO | None = open(path, "rb")  # noqa: SIM115 - closed by close()
        except FileNotFoundError:
            self._fh = None
        self._buf = b""

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def snapshot(self) -> list[LogEntry]:
        """Every complete entry so far, rotated files first."""
        out: list[LogEntry] = []
        for p in self._rotated:
            try:
                with open(p, "rb") as f:
                    out.extend(_parse_complete(f.read())[0])
            except FileNotFoundError:
                continue
        if self._fh is not None:
            data = self._fh.read()
            entries, end = _parse_complete(data)
            out.extend(entries)
            self._buf = data[end:]
        return out

    async def follow(self, is_done: Callable[[], bool], poll: float = 0.05) -> AsyncIterator[LogEntry]:
        """Entries appended after the snapshot, until ``is_done()`` and drained."""
        while True:
            done = is_done()
            if self._fh is None:
                try:
                    self._fh = open(self.path, "rb")  # noqa: SIM115
                except FileNotFoundError:
                    if done:
                        return
                    await asyncio.sleep(poll)
                    continue
            chunk = self._fh.read()
            if chunk:
                self._buf += chunk
                *lines, self._buf = self._buf.split(b"\n")
                for line in lines:
                    e = parse_line(line)
                    if e is not None:
                        yield e
                continue
            if self._rotated_away():
                self._fh.close()  # fully read: continue with the new live file
                self._fh, self._buf = None, b""
                continue
            if done:
                return
            await asyncio.sleep(poll)

    def _rotated_away(self) -> bool:
        assert self._fh is not None
        try:
            return os.stat(self.path).st_ino != os.fstat(self._fh.fileno()).st_ino
        except FileNotFoundError:
            return False  # removed with the container: what we hold is all there is
