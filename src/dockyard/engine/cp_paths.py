"""Docker's path rules for the archive API (``docker cp``) and the path-stat header: pure functions.

A requested path is taken as absolute inside the container, cleaned, and keeps a
trailing ``/`` or ``/.`` because those change what is copied. Every directory
component is resolved inside the rootfs (symlinks never lead out of it); the last
component is followed only when the caller asks (extraction, or a trailing ``/``).
"""

from __future__ import annotations

import base64
import json
import os
import posixpath
import stat
from dataclasses import dataclass
from datetime import UTC, datetime

from dockyard.containers.rootfs import secure_join

__all__ = [
    "PathStat",
    "archive_name",
    "container_path",
    "go_file_mode",
    "path_stat",
    "resolve_last_unfollowed",
    "stat_header",
]

# Go's os.FileMode type bits: the docker CLI decodes the stat header with them.
_GO_DIR = 1 << 31
_GO_SYMLINK = 1 << 27
_GO_DEVICE = 1 << 26
_GO_PIPE = 1 << 25
_GO_SOCKET = 1 << 24
_GO_SETUID = 1 << 23
_GO_SETGID = 1 << 22
_GO_CHARDEV = 1 << 21
_GO_STICKY = 1 << 20


def container_path(path: str) -> str:
    """``a/../b/`` -> ``/b/``: absolute and clean, keeping a trailing ``/`` or ``/.``."""
    cleaned = posixpath.normpath("/" + path.lstrip("/"))
    if cleaned == "/":
        return "/." if path.endswith("/.") or path == "." else "/"
    if path.endswith("/.") or path == ".":
        return cleaned + "/."
    if path.endswith("/"):
        return cleaned + "/"
    return cleaned


def archive_name(abs_path: str) -> str:
    """The name a path's archive entries start with (Go's ``filepath.Base``): ``/a/b/`` -> ``b``, ``/a/.`` -> ``.``."""
    trimmed = abs_path.rstrip("/")
    if not trimmed:
        return "/"
    return trimmed.rsplit("/", 1)[-1]


def resolve_last_unfollowed(root: str, abs_path: str) -> str:
    """The host path of ``abs_path`` with its directory resolved inside ``root`` and its last element kept as is.

    A trailing ``/`` resolves the last element too (as ``lstat("link/")`` would follow it).
    """
    head, base = posixpath.split(abs_path)
    resolved_dir = secure_join(root, head)
    if not base:
        return resolved_dir
    if base == ".":
        return resolved_dir + "/."
    return posixpath.join(resolved_dir, base)


@dataclass(frozen=True)
class PathStat:
    """``X-Docker-Container-Path-Stat``: what the CLI needs to decide how to copy."""

    name: str
    size: int
    mode: int  # Go os.FileMode bits
    mtime: str  # RFC 3339 with nanoseconds
    link_target: str

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "size": self.size,
            "mode": self.mode,
            "mtime": self.mtime,
            "linkTarget": self.link_target,
        }


def go_file_mode(st_mode: int) -> int:
    """A POSIX ``st_mode`` as Go's ``os.FileMode`` (type bits high, permissions low)."""
    mode = stat.S_IMODE(st_mode) & 0o777
    fmt = stat.S_IFMT(st_mode)
    if fmt == stat.S_IFDIR:
        mode |= _GO_DIR
    elif fmt == stat.S_IFLNK:
        mode |= _GO_SYMLINK
    elif fmt == stat.S_IFBLK:
        mode |= _GO_DEVICE
    elif fmt == stat.S_IFCHR:
        mode |= _GO_DEVICE | _GO_CHARDEV
    elif fmt == stat.S_IFIFO:
        mode |= _GO_PIPE
    elif fmt == stat.S_IFSOCK:
        mode |= _GO_SOCKET
    if st_mode & stat.S_ISUID:
        mode |= _GO_SETUID
    if st_mode & stat.S_ISGID:
        mode |= _GO_SETGID
    if st_mode & stat.S_ISVTX:
        mode |= _GO_STICKY
    return mode


def _rfc3339_nano(ns: int) -> str:
    secs, frac = divmod(ns, 1_000_000_000)
    text = datetime.fromtimestamp(secs, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    if frac:
        text += "." + f"{frac:09d}".rstrip("0")
    return text + "Z"


def path_stat(root: str, abs_path: str, host_path: str) -> PathStat:
    """Stat ``host_path`` (not following a last symlink); a symlink's target is resolved inside ``root``.

    Raises ``FileNotFoundError`` / ``NotADirectoryError`` when the path does not exist.
    """
    st = os.lstat(host_path)
    link_target = ""
    if stat.S_ISLNK(st.st_mode):
        target = secure_join(root, abs_path)
        link_target = "/" + os.path.relpath(target, os.path.abspath(root)).removeprefix(".")
        link_target = posixpath.normpath(link_target)
    return PathStat(
        archive_name(abs_path), st.st_size, go_file_mode(st.st_mode), _rfc3339_nano(st.st_mtime_ns), link_target
    )


def stat_header(ps: PathStat) -> str:
    """The header value: base64 of the JSON stat."""
    return base64.b64encode(json.dumps(ps.to_json()).encode()).decode()
