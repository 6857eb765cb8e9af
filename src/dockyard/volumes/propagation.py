"""Bind propagation needs a matching host mount: ``shared`` binds need a shared one, ``slave`` a shared or slave one."""

from __future__ import annotations

import os

from dockyard.errors import InvalidArgument

__all__ = ["check_propagation", "mount_of", "parse_mountinfo_line"]


def parse_mountinfo_line(line: str) -> tuple[str, frozenset[str]]:
    """(mount point, optional-field tags such as ``shared``/``master``) of one /proc/self/mountinfo line."""
    fields = line.split()
    sep = fields.index("-")
    point = fields[4].replace("\\040", " ").replace("\\011", "\t").replace("\\134", "\\")
    tags = frozenset(f.split(":", 1)[0] for f in fields[6:sep])
    return point, tags


def mount_of(path: str, mountinfo: str) -> tuple[str, frozenset[str]]:
    """The mount holding ``path`` (an absolute, resolved path): its mount point and propagation tags."""
    best = ("/", frozenset[str]())
    for line in mountinfo.splitlines():
        if not line.strip():
            continue
        point, tags = parse_mountinfo_line(line)
        inside = path == point or path.startswith(point.rstrip("/") + "/")
        # Later lines stack on earlier ones at the same point, so ">=" keeps the top one.
        if inside and len(point) >= len(best[0]):
            best = (point, tags)
    return best


def check_propagation(source: str, propagation: str, mountinfo: str | None = None) -> None:
    """Raise Docker's error when the host mount of ``source`` cannot propagate as asked."""
    if propagation not in ("shared", "rshared", "slave", "rslave"):
        return
    if mountinfo is None:
        with open("/proc/self/mountinfo") as f:
            mountinfo = f.read()
    point, tags = mount_of(os.path.realpath(source), mountinfo)
    if propagation in ("shared", "rshared") and "shared" not in tags:
        raise InvalidArgument(f"path {source} is mounted on {point} but it is not a shared mount")
    if propagation in ("slave", "rslave") and not tags & {"shared", "master"}:
        raise InvalidArgument(f"path {source} is mounted on {point} but it is not a shared or slave mount")
