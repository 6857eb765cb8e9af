"""Namespace kinds -> clone flags, and joining/creating them."""

from __future__ import annotations

import os

from dockyard.runtime.linux import libc

__all__ = ["CLONE_FLAGS", "PROC_NS_NAMES", "join", "open_ns", "unshare"]

CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
CLONE_NEWTIME = 0x00000080

CLONE_FLAGS = {
    "mount": CLONE_NEWNS,
    "cgroup": CLONE_NEWCGROUP,
    "uts": CLONE_NEWUTS,
    "ipc": CLONE_NEWIPC,
    "user": CLONE_NEWUSER,
    "pid": CLONE_NEWPID,
    "network": CLONE_NEWNET,
    "time": CLONE_NEWTIME,
}
# spec name -> /proc/<pid>/ns/<name>
PROC_NS_NAMES = {
    "mount": "mnt",
    "cgroup": "cgroup",
    "uts": "uts",
    "ipc": "ipc",
    "user": "user",
    "pid": "pid",
    "network": "net",
    "time": "time",
}


def open_ns(path: str) -> int:
    return os.open(path, os.O_RDONLY | os.O_CLOEXEC)


def join(fd: int, kind: str) -> None:
    libc.setns(fd, CLONE_FLAGS[kind])


def unshare(kinds: list[str]) -> None:
    flags = 0
    for kind in kinds:
        flags |= CLONE_FLAGS[kind]
    if flags:
        libc.unshare(flags)
