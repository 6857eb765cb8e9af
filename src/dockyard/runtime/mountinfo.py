"""Parse /proc/self/mountinfo and find the cgroup hierarchies in it (pure)."""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["CgroupLayout", "MountInfo", "cgroup_layout", "mount_point_of", "parse_mountinfo"]


class MountInfo(NamedTuple):
    mount_id: int
    parent_id: int
    root: str
    mount_point: str
    options: str
    optional: tuple[str, ...]  # "shared:1", "master:2" ...
    fstype: str
    source: str
    super_options: str


def _unescape(field: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as \ooo
    if "\\" not in field:
        return field
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and i + 3 < len(field) + 1 and field[i + 1 : i + 4].isdigit():
            out.append(chr(int(field[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def parse_mountinfo(text: str) -> list[MountInfo]:
    entries = []
    for line in text.splitlines():
        fields = line.split(" ")
        if len(fields) < 10:
            continue
        sep = fields.index("-", 6)
        entries.append(
            MountInfo(
                mount_id=int(fields[0]),
                parent_id=int(fields[1]),
                root=_unescape(fields[3]),
                mount_point=_unescape(fields[4]),
                options=fields[5],
                optional=tuple(fields[6:sep]),
                fstype=fields[sep + 1],
                source=_unescape(fields[sep + 2]),
                super_options=fields[sep + 3] if len(fields) > sep + 3 else "",
            )
        )
    return entries


class CgroupLayout(NamedTuple):
    """``unified`` is the cgroup2 mount when the host is pure v2, else ""; ``v1`` maps a
    hierarchy's name ("memory", "cpu,cpuacct", "name=systemd") to its mount point."""

    unified: str
    v1: tuple[tuple[str, str], ...]


_NOT_SUBSYSTEMS = {"rw", "ro", "relatime", "noatime", "nosuid", "nodev", "noexec", "clone_children", "xattr"}


def cgroup_layout(entries: list[MountInfo], root: str = "/sys/fs/cgroup") -> CgroupLayout:
    unified = ""
    v1: dict[str, str] = {}
    for m in entries:
        if m.fstype == "cgroup2" and m.mount_point == root:
            unified = m.mount_point
        elif m.fstype == "cgroup" and m.root == "/":
            names = [o for o in m.super_options.split(",") if o and o not in _NOT_SUBSYSTEMS and "=" not in o]
            names += [o for o in m.super_options.split(",") if o.startswith("name=")]
            if names:
                v1.setdefault(",".join(names), m.mount_point)
    if unified:
        return CgroupLayout(unified, ())
    return CgroupLayout("", tuple(sorted(v1.items())))


def mount_point_of(entries: list[MountInfo], path: str) -> MountInfo | None:
    """The last-mounted entry whose mount point contains ``path`` (an absolute, resolved path)."""
    best: MountInfo | None = None
    for m in entries:
        mp = m.mount_point
        if (path == mp or path.startswith(mp.rstrip("/") + "/")) and (best is None or len(mp) >= len(best.mount_point)):
            best = m
    return best
