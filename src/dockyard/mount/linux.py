"""mount(2)/umount2(2) through libc, applying ``Mount`` values."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from dockyard import errors
from dockyard.mount.types import Mount

__all__ = [
    "MNT_DETACH",
    "mount",
    "mount_all",
    "mounted",
    "parse_options",
    "unmount",
    "unmount_all",
]

MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_NOATIME = 0x400
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 1 << 18
MNT_DETACH = 0x2

_FLAGS = {
    "ro": (MS_RDONLY, True),
    "rw": (MS_RDONLY, False),
    "nosuid": (MS_NOSUID, True),
    "suid": (MS_NOSUID, False),
    "nodev": (MS_NODEV, True),
    "dev": (MS_NODEV, False),
    "noexec": (MS_NOEXEC, True),
    "exec": (MS_NOEXEC, False),
    "noatime": (MS_NOATIME, True),
    "bind": (MS_BIND, True),
    "rbind": (MS_BIND | MS_REC, True),
}


@functools.cache
def _lib() -> ctypes.CDLL:
    return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def parse_options(options: Sequence[str]) -> tuple[int, str]:
    """Split mount options into mount(2) flags and the comma-joined data string."""
    flags = 0
    data: list[str] = []
    for opt in options:
        known = _FLAGS.get(opt)
        if known is None:
            data.append(opt)
        elif known[1]:
            flags |= known[0]
        else:
            flags &= ~known[0]
    return flags, ",".join(data)


def _check(rc: int, what: str) -> None:
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def mount(m: Mount, target: str | None = None) -> None:
    """Mount ``m`` at ``target`` (default ``m.target``); bind mounts honour ``ro`` via a remount."""
    where = target or m.target
    if not where:
        raise errors.InvalidArgument("mount has no target")
    flags, data = parse_options(m.options)
    fstype = None if flags & MS_BIND else m.type
    lib = _lib()
    rc = lib.mount(
        m.source.encode(),
        where.encode(),
        fstype.encode() if fstype else None,
        ctypes.c_ulong(flags),
        data.encode() if data else None,
    )
    _check(rc, f"mount {m.type} {m.source} on {where}")
    if flags & MS_BIND and flags & (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC):
        # The kernel ignores these on the initial bind; they take effect on a remount.
        rflags = MS_BIND | MS_REMOUNT | (flags & (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC))
        rc = lib.mount(None, where.encode(), None, ctypes.c_ulong(rflags), None)
        if rc != 0:
            err = ctypes.get_errno()
            unmount(where, MNT_DETACH)
            raise OSError(err, f"remount {where} read-only: {os.strerror(err)}")


def unmount(target: str, flags: int = 0) -> None:
    _check(_lib().umount2(target.encode(), ctypes.c_int(flags)), f"umount {target}")


def mount_all(mounts: Sequence[Mount], target: str) -> None:
    """Mount a snapshot's mounts on ``target`` in order; undoes its own work on failure."""
    done = 0
    try:
        for m in mounts:
            mount(m, target)
            done += 1
    except BaseException:
        for _ in range(done):
            unmount(target, MNT_DETACH)
        raise


def unmount_all(target: str) -> None:
    """Unmount everything stacked on ``target``."""
    while True:
        try:
            unmount(target, MNT_DETACH)
        except OSError:
            return


@contextmanager
def mounted(mounts: Sequence[Mount], target: str) -> Iterator[str]:
    """``target`` with ``mounts`` applied for the duration of the block."""
    mount_all(mounts, target)
    try:
        yield target
    finally:
        unmount_all(target)
