"""Mounting the rootfs snapshot on ``<bundle>/rootfs`` (ctypes mount(2)).

Overlay options can exceed the one page that mount(2) accepts for its data
when an image has many layers; then, like containerd, the mount is done from
the layers' common parent directory with relative paths.
"""

from __future__ import annotations

import ctypes
import errno
import os
from collections.abc import Sequence

from dockyard.shim.config import RootfsMount

__all__ = ["MountError", "compact_overlay_options", "is_mountpoint", "mount_all", "parse_options", "unmount"]

MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_SYNCHRONOUS = 0x10
MS_REMOUNT = 0x20
MS_NOATIME = 0x400
MS_NODIRATIME = 0x800
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20
MS_RELATIME = 1 << 21
MS_STRICTATIME = 1 << 24
MNT_DETACH = 2

# option -> (clear?, flag); unknown options go to the filesystem as data
_FLAGS: dict[str, tuple[bool, int]] = {
    "ro": (False, MS_RDONLY),
    "rw": (True, MS_RDONLY),
    "nosuid": (False, MS_NOSUID),
    "suid": (True, MS_NOSUID),
    "nodev": (False, MS_NODEV),
    "dev": (True, MS_NODEV),
    "noexec": (False, MS_NOEXEC),
    "exec": (True, MS_NOEXEC),
    "sync": (False, MS_SYNCHRONOUS),
    "async": (True, MS_SYNCHRONOUS),
    "noatime": (False, MS_NOATIME),
    "atime": (True, MS_NOATIME),
    "nodiratime": (False, MS_NODIRATIME),
    "diratime": (True, MS_NODIRATIME),
    "relatime": (False, MS_RELATIME),
    "norelatime": (True, MS_RELATIME),
    "strictatime": (False, MS_STRICTATIME),
    "bind": (False, MS_BIND),
    "rbind": (False, MS_BIND | MS_REC),
    "defaults": (False, 0),
}
_PAGE = os.sysconf("SC_PAGE_SIZE")


class MountError(Exception):
    """mount(2) or umount(2) failed; the message names the target and the reason."""


def parse_options(options: Sequence[str]) -> tuple[int, str]:
    """Split mount options into mount(2) flags and the filesystem's data string."""
    flags = 0
    data: list[str] = []
    for opt in options:
        known = _FLAGS.get(opt)
        if known is None:
            data.append(opt)
        elif known[0]:
            flags &= ~known[1]
        else:
            flags |= known[1]
    return flags, ",".join(data)


def compact_overlay_options(data: str) -> tuple[str, str]:
    """``(directory, data)``: overlay data rewritten relative to the common parent of its paths."""
    keys = ("lowerdir=", "upperdir=", "workdir=")
    paths: list[str] = []
    for part in data.split(","):
        for key in keys:
            if part.startswith(key):
                paths.extend(part[len(key) :].split(":"))
    if not paths or not all(os.path.isabs(p) for p in paths):
        return "", data
    parent = os.path.commonpath(paths)
    if parent in ("", "/"):
        return "", data
    out: list[str] = []
    for part in data.split(","):
        for key in keys:
            if part.startswith(key):
                part = key + ":".join(os.path.relpath(p, parent) for p in part[len(key) :].split(":"))
                break
        out.append(part)
    return parent, ",".join(out)


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _mount(source: str, target: str, fstype: str, flags: int, data: str) -> None:
    libc = _libc()
    rc = libc.mount(source.encode(), target.encode(), fstype.encode(), ctypes.c_ulong(flags), data.encode() or None)
    if rc != 0:
        err = ctypes.get_errno()
        raise MountError(f"mount {fstype} on {target}: {os.strerror(err)}")


def mount_one(m: RootfsMount, target: str) -> None:
    flags, data = parse_options(m.options)
    fstype = m.type
    if flags & MS_BIND:
        fstype = ""
    if len(data.encode()) < _PAGE or fstype != "overlay":
        _mount(m.source, target, fstype, flags & ~MS_RDONLY if flags & MS_BIND else flags, data)
    else:
        parent, short = compact_overlay_options(data)
        if not parent or len(short.encode()) >= _PAGE:
            raise MountError(f"mount overlay on {target}: options too long ({len(data)} bytes)")
        # mount(2) resolves relative lowerdirs against the cwd; the shim is single-threaded
        here = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.chdir(parent)
            _mount(m.source, target, fstype, flags, short)
        finally:
            os.fchdir(here)
            os.close(here)
    if flags & MS_BIND and flags & MS_RDONLY:
        _mount("", target, "", flags | MS_REMOUNT, "")


def mount_all(mounts: Sequence[RootfsMount], target: str) -> None:
    """Mount each of ``mounts`` on ``target`` in order; undo the ones done when one fails."""
    done = 0
    try:
        for m in mounts:
            mount_one(m, target)
            done += 1
    except BaseException:
        for _ in range(done):
            unmount(target)
        raise


def unmount(target: str) -> bool:
    """Unmount ``target`` once (lazily when busy); False when nothing was mounted there."""
    libc = _libc()
    if libc.umount2(target.encode(), 0) == 0:
        return True
    err = ctypes.get_errno()
    if err == errno.EBUSY:
        if libc.umount2(target.encode(), MNT_DETACH) == 0:
            return True
        err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOENT):
        return False
    raise MountError(f"unmount {target}: {os.strerror(err)}")


def is_mountpoint(path: str) -> bool:
    """Whether something is mounted exactly at ``path`` (per /proc/self/mountinfo)."""
    real = os.path.realpath(path)
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                fields = line.split()
                if len(fields) > 4 and _unescape(fields[4]) == real:
                    return True
    except OSError:
        return False
    return False


def _unescape(s: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as octal
    return s.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n").replace("\\134", "\\")
