"""runc-style log lines: text to stderr, and to ``--log`` as text or JSON ({"level","msg","time"})."""

from __future__ import annotations

import json
import os
import time

__all__ = ["RuntimeLog"]


class RuntimeLog:
    def __init__(self, path: str = "", fmt: str = "text") -> None:
        self._path = path
        self._json = fmt == "json"

    def _line(self, level: str, msg: str) -> bytes:
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        if self._json:
            return json.dumps({"level": level, "msg": msg, "time": now}).encode() + b"\n"
        return f'time="{now}" level={level} msg="{msg}"\n'.encode()

    def _write(self, level: str, msg: str) -> None:
        if not self._path:
            return
        try:
            fd = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError:
            return
        try:
            os.write(fd, self._line(level, msg))
        finally:
            os.close(fd)

    def error(self, msg: str) -> None:
        os.write(2, f"dockyard-runtime: {msg}\n".encode(errors="replace"))
        self._write("error", msg)

    def warning(self, msg: str) -> None:
        os.write(2, f"dockyard-runtime: warning: {msg}\n".encode(errors="replace"))
        self._write("warning", msg)
