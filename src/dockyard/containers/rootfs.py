"""Reading files of a container's root filesystem without ever leaving it.

Symlinks are resolved as if the rootfs were ``/`` (an absolute link restarts at
the rootfs, ``..`` stops at it), like runc's securejoin.
"""

from __future__ import annotations

import errno
import os
import posixpath
import stat

from dockyard.errors import UnsafePath

__all__ = ["read_rootfs_file", "secure_join"]

_MAX_LINKS = 255


def secure_join(root: str, unsafe_path: str) -> str:
    """The host path of ``unsafe_path`` inside ``root``, following symlinks only within ``root``.

    Components that do not exist are joined as they are. Raises ``UnsafePath`` on a
    symlink loop.
    """
    root = os.path.abspath(root)
    pending = [c for c in unsafe_path.split("/") if c not in ("", ".")]
    resolved: list[str] = []
    links = 0
    while pending:
        part = pending.pop(0)
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = os.path.join(root, *resolved, part)
        try:
            st = os.lstat(candidate)
        except OSError:
            resolved.append(part)
            continue
        if not stat.S_ISLNK(st.st_mode):
            resolved.append(part)
            continue
        links += 1
        if links > _MAX_LINKS:
            raise UnsafePath(f"too many levels of symbolic links resolving {unsafe_path!r} in {root!r}")
        target = os.readlink(candidate)
        if target.startswith("/"):
            resolved = []
        pending = [c for c in target.split("/") if c not in ("", ".")] + pending
    return posixpath.join(root, *resolved)


def read_rootfs_file(root: str, path: str, limit: int = 1 << 20) -> str:
    """The text of ``path`` inside ``root`` (at most ``limit`` bytes), or ``""`` when it is missing or not a file."""
    host_path = secure_join(root, path)
    try:
        fd = os.open(host_path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError as e:
        if e.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP, errno.EISDIR):
            return ""
        raise
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return ""
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(limit)
    finally:
        os.close(fd)
    return data.decode("utf-8", errors="replace")
