"""The default storage driver: a directory tree, atomic by temp-file + rename."""

from __future__ import annotations

import os
import shutil
import stat
import uuid
from pathlib import Path
from typing import BinaryIO

from dockyard.errors import NotFound, UnsafePath

__all__ = ["FilesystemDriver"]


class FilesystemDriver:
    """Implements ``Driver`` on a local (or shared POSIX) directory."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        parts = key.split("/")
        # Defence in depth: callers validate names, but never let a key climb out.
        if not key or any(p in ("", ".", "..") for p in parts) or "\x00" in key:
            raise UnsafePath(f"unsafe storage key {key!r}")
        return self.root.joinpath(*parts)

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise NotFound(f"{key} not found") from None

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)

    def size(self, key: str) -> int | None:
        try:
            st = self._path(key).stat()
        except (FileNotFoundError, NotADirectoryError):
            return None
        return None if stat.S_ISDIR(st.st_mode) else st.st_size

    def mtime(self, key: str) -> float | None:
        try:
            return self._path(key).stat().st_mtime
        except (FileNotFoundError, NotADirectoryError):
            return None

    def touch(self, key: str) -> None:
        try:
            os.utime(self._path(key))
        except FileNotFoundError:
            raise NotFound(f"{key} not found") from None

    def delete(self, key: str) -> None:
        try:
            self._path(key).unlink()
        except (FileNotFoundError, NotADirectoryError):
            pass

    def delete_tree(self, prefix: str) -> None:
        shutil.rmtree(self._path(prefix), ignore_errors=True)

    def list(self, prefix: str) -> list[str]:
        path = self._path(prefix) if prefix else self.root
        try:
            return sorted(n for n in os.listdir(path) if not n.endswith(".tmp"))
        except (FileNotFoundError, NotADirectoryError):
            return []

    def open_read(self, key: str, offset: int = 0) -> BinaryIO:
        try:
            f = open(self._path(key), "rb")  # noqa: SIM115 - the caller owns the handle
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise NotFound(f"{key} not found") from None
        f.seek(offset)
        return f

    def open_append(self, key: str, offset: int) -> BinaryIO:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
        f = os.fdopen(fd, "wb")
        f.truncate(offset)
        f.seek(offset)
        return f

    def move(self, src: str, dst: str) -> None:
        dpath = self._path(dst)
        dpath.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(self._path(src), dpath)
        except FileNotFoundError:
            raise NotFound(f"{src} not found") from None
