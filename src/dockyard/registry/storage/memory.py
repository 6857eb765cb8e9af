"""An in-memory ``Driver``: for tests, and the proof that the registry only talks to its seam."""

from __future__ import annotations

import io
import threading
import time
from typing import BinaryIO

from dockyard.errors import NotFound, UnsafePath

__all__ = ["MemoryDriver"]


def _check(key: str) -> str:
    if not key or any(p in ("", ".", "..") for p in key.split("/")):
        raise UnsafePath(f"unsafe storage key {key!r}")
    return key


class _Appender(io.BytesIO):
    """Buffers writes and commits them to the driver on close, like an object-store part upload."""

    def __init__(self, driver: MemoryDriver, key: str, prefix: bytes) -> None:
        super().__init__(prefix)
        self.seek(len(prefix))
        self._driver = driver
        self._key = key

    def close(self) -> None:
        if not self.closed:
            self._driver.put(self._key, self.getvalue())
        super().close()


class MemoryDriver:
    def __init__(self) -> None:
        self._objects: dict[str, tuple[bytes, float]] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> bytes:
        with self._lock:
            try:
                return self._objects[_check(key)][0]
            except KeyError:
                raise NotFound(f"{key} not found") from None

    def put(self, key: str, data: bytes) -> None:
        with self._lock:
            self._objects[_check(key)] = (bytes(data), time.time())

    def size(self, key: str) -> int | None:
        with self._lock:
            obj = self._objects.get(_check(key))
        return None if obj is None else len(obj[0])

    def mtime(self, key: str) -> float | None:
        with self._lock:
            obj = self._objects.get(_check(key))
        return None if obj is None else obj[1]

    def touch(self, key: str) -> None:
        with self._lock:
            obj = self._objects.get(_check(key))
            if obj is None:
                raise NotFound(f"{key} not found")
            self._objects[key] = (obj[0], time.time())

    def delete(self, key: str) -> None:
        with self._lock:
            self._objects.pop(_check(key), None)

    def delete_tree(self, prefix: str) -> None:
        start = _check(prefix) + "/"
        with self._lock:
            for key in [k for k in self._objects if k.startswith(start)]:
                del self._objects[key]

    def list(self, prefix: str) -> list[str]:
        start = _check(prefix) + "/" if prefix else ""
        with self._lock:
            return sorted({k[len(start) :].split("/", 1)[0] for k in self._objects if k.startswith(start)})

    def open_read(self, key: str, offset: int = 0) -> BinaryIO:
        f = io.BytesIO(self.get(key))
        f.seek(offset)
        return f

    def open_append(self, key: str, offset: int) -> BinaryIO:
        with self._lock:
            obj = self._objects.get(_check(key))
        return _Appender(self, key, (obj[0] if obj else b"")[:offset])

    def move(self, src: str, dst: str) -> None:
        with self._lock:
            obj = self._objects.pop(_check(src), None)
            if obj is None:
                raise NotFound(f"{src} not found")
            self._objects[_check(dst)] = obj
