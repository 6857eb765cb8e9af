"""Docker's ``json-file`` log format: one JSON object per line, rotated by size.

Output is cut into lines; a line longer than 16 KiB is written as several
records (only the last ends with ``\\n``), and a trailing partial line is written
when its stream ends, like dockerd's log copier.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable

__all__ = ["MAX_LINE", "JsonFileLog", "LineLog", "TeeLog", "encode_record", "format_time"]

MAX_LINE = 16 * 1024


def format_time(ns: int) -> str:
    """RFC 3339 with nanoseconds in UTC, e.g. ``2024-01-02T03:04:05.123456789Z``."""
    sec, frac = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec)) + f".{frac:09d}Z"


def encode_record(stream: str, data: bytes, ns: int) -> bytes:
    """One log line as dockerd writes it (invalid UTF-8 is replaced, as Go's encoder does)."""
    rec = {"log": data.decode("utf-8", "replace"), "stream": stream, "time": format_time(ns)}
    return json.dumps(rec, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


class LineLog:
    """Cuts a process's output into log lines, as dockerd's log copier does; ``_emit`` stores one."""

    def __init__(self, clock: Callable[[], int] = time.time_ns) -> None:
        self._clock = clock
        self._pending: dict[str, bytes] = {}

    def write(self, stream: str, data: bytes) -> None:
        """Add output of ``stream`` (``stdout``/``stderr``); complete lines are written at once."""
        buf = self._pending.pop(stream, b"") + data
        ns = self._clock()
        start = 0
        while True:
            nl = buf.find(b"\n", start, start + MAX_LINE)
            if nl >= 0:
                self._emit(stream, buf[start : nl + 1], ns)
                start = nl + 1
            elif len(buf) - start >= MAX_LINE:
                self._emit(stream, buf[start : start + MAX_LINE], ns)
                start += MAX_LINE
            else:
                break
        if start < len(buf):
            self._pending[stream] = buf[start:]

    def flush(self, stream: str) -> None:
        """The stream ended: write its partial last line, if any."""
        rest = self._pending.pop(stream, b"")
        if rest:
            self._emit(stream, rest, self._clock())

    def close(self) -> None:
        for stream in list(self._pending):
            self.flush(stream)
        self._release()

    def _emit(self, stream: str, data: bytes, ns: int) -> None:
        raise NotImplementedError

    def _release(self) -> None:
        """Give back what the sink holds (after the last lines are out)."""


class TeeLog(LineLog):
    """Every line to several logs (a remote driver and its local cache)."""

    def __init__(self, sinks: list[LineLog], clock: Callable[[], int] = time.time_ns) -> None:
        super().__init__(clock)
        self._sinks = sinks

    def _emit(self, stream: str, data: bytes, ns: int) -> None:
        errors: list[OSError] = []
        for sink in self._sinks:
            try:
                sink._emit(stream, data, ns)
            except OSError as e:  # one failing sink must not starve the others
                errors.append(e)
        if errors:
            raise errors[0]

    def _release(self) -> None:
        for sink in self._sinks:
            sink._release()


class JsonFileLog(LineLog):
    """Appends records to ``path``; rotates to ``path.1`` ... ``path.<max_files-1>``."""

    def __init__(
        self, path: str, max_size: int = 0, max_files: int = 1, clock: Callable[[], int] = time.time_ns
    ) -> None:
        super().__init__(clock)
        self._path = path
        self._max_size = max_size
        self._max_files = max(1, max_files)
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
        self._size = os.fstat(self._fd).st_size

    def _release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def _emit(self, stream: str, data: bytes, ns: int) -> None:
        if self._max_size > 0 and self._size >= self._max_size:
            self._rotate()
        rec = encode_record(stream, data, ns)
        view = memoryview(rec)
        while view:
            n = os.write(self._fd, view)
            view = view[n:]
        self._size += len(rec)

    def _rotate(self) -> None:
        os.close(self._fd)
        if self._max_files > 1:
            for i in range(self._max_files - 1, 1, -1):
                try:
                    os.replace(f"{self._path}.{i - 1}", f"{self._path}.{i}")
                except FileNotFoundError:
                    pass
            os.replace(self._path, f"{self._path}.1")
            flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
        else:
            flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC
        self._fd = os.open(self._path, flags, 0o640)
        self._size = 0
