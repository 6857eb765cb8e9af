"""Reading json-file container logs (written by the shim) for /logs and attach."""

from __future__ import annotations

import asyncio
import base64
import json
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from dockyard.engine.timefmt import parse_rfc3339

__all__ = ["LogEntry", "follow_log", "log_files", "parse_line", "read_log_entries"]


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
    return read_log_snapshot(path)[0]


def read_log_snapshot(path: str) -> tuple[list[LogEntry], int]:
    """All complete entries, and the byte offset in the live file just after the last
    one — where following must continue so that nothing is sent twice or skipped."""
    out: list[LogEntry] = []
    offset = 0
    for p in log_files(path):
        try:
            with open(p, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            continue
        end = data.rfind(b"\n") + 1  # a trailing partial line is still being written
        for line in data[:end].splitlines():
            e = parse_line(line)
            if e is not None:
                out.append(e)
        if p == path:
            offset = end
    return out, offset


async def follow_log(
    path: str, offset: int, is_done: Callable[[], bool], poll: float = 0.05
) -> AsyncIterator[LogEntry]:
    """Entries appended to ``path`` after byte ``offset`` until ``is_done()`` and drained.

    Polling keeps this simple and robust across rotation and daemon restarts;
    the interval is short enough for interactive use.
    """
    buf = b""
    ino = None
    while True:
        done = is_done()
        try:
            st = os.stat(path)
        except FileNotFoundError:
            st = None
        if st is not None:
            if ino is not None and st.st_ino != ino:
                offset, buf = 0, b""  # rotated: the new file starts over
            ino = st.st_ino
            if st.st_size < offset:
                offset, buf = 0, b""
            if st.st_size > offset:
                with open(path, "rb") as f:
                    f.seek(offset)
                    chunk = f.read(st.st_size - offset)
                offset += len(chunk)
                buf += chunk
                *lines, buf = buf.split(b"\n")
                for line in lines:
                    e = parse_line(line)
                    if e is not None:
                        yield e
                continue
        if done:
            return
        await asyncio.sleep(poll)
