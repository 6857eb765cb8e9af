"""What a container changed, read from its overlay upper dir against the image's lower dirs.

Kinds are Docker's: 0 modified, 1 added, 2 deleted. A whiteout (0/0 char device)
is a deletion; an upper entry also present in a lower is a modification, else an
addition. A lower directory is reported modified when something below it changed
or its own mode or owner did. Order is Docker's walk order: parents before
children, siblings by name. The mountpoint stubs the runtime creates (``/etc/hosts``
...) are no change of the user's: Docker keeps them in an init layer; here they
are left out of changes and commits.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass

from dockyard.archive.whiteouts import is_overlay_whiteout

__all__ = ["ADDED", "DELETED", "INIT_PATHS", "MODIFIED", "Change", "overlay_changes", "runtime_stubs"]

MODIFIED, ADDED, DELETED = 0, 1, 2

# Paths Docker's init layer holds: created for mounts, never part of a container's diff.
INIT_PATHS = (
    ".dockerenv",
    "dev",
    "dev/console",
    "dev/pts",
    "dev/shm",
    "etc/hostname",
    "etc/hosts",
    "etc/mtab",
    "etc/resolv.conf",
    "proc",
    "sys",
)


@dataclass(frozen=True)
class Change:
    path: str  # absolute in the container
    kind: int

    def to_json(self) -> dict[str, object]:
        return {"Path": self.path, "Kind": self.kind}


def _lstat(path: str) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None


def _in_lower(lowers: Sequence[str], rel: str) -> os.stat_result | None:
    """The topmost lower entry for ``rel``, None when no lower has it (or a higher lower deleted it)."""
    for lower in lowers:
        st = _lstat(os.path.join(lower, rel))
        if st is None:
            continue
        if is_overlay_whiteout(st):
            return None
        return st
    return None


def _is_stub(st: os.stat_result, path: str) -> bool:
    if stat.S_ISREG(st.st_mode):
        return st.st_size == 0
    if stat.S_ISDIR(st.st_mode):
        return not os.listdir(path)
    return stat.S_ISLNK(st.st_mode)


def runtime_stubs(upper: str, lowers: Sequence[str]) -> frozenset[str]:
    """Relative paths in ``upper`` that are empty mountpoint stubs of ``INIT_PATHS`` not in the image."""
    out: set[str] = set()
    for rel in INIT_PATHS:
        path = os.path.join(upper, rel)
        st = _lstat(path)
        if st is None or is_overlay_whiteout(st) or _in_lower(lowers, rel) is not None:
            continue
        if _is_stub(st, path):
            out.add(rel)
    # A directory the image has, unchanged, that holds nothing but stubs (etc/ for etc/hosts) goes too.
    for rel in sorted({r.rsplit("/", 1)[0] for r in out if "/" in r}, key=lambda r: -r.count("/")):
        path = os.path.join(upper, rel)
        st, low = _lstat(path), _in_lower(lowers, rel)
        if st is None or low is None or not stat.S_ISDIR(st.st_mode) or not stat.S_ISDIR(low.st_mode):
            continue
        same = (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (stat.S_IMODE(low.st_mode), low.st_uid, low.st_gid)
        if same and all(f"{rel}/{name}" in out for name in os.listdir(path)):
            out.add(rel)
    return frozenset(out)


def overlay_changes(upper: str, lowers: Sequence[str]) -> list[Change]:
    """The changes in ``upper`` over ``lowers`` (topmost lower first)."""
    skip = runtime_stubs(upper, lowers)
    return _walk(upper, lowers, "", skip, under_added=False)


def _walk(upper: str, lowers: Sequence[str], rel: str, skip: frozenset[str], under_added: bool) -> list[Change]:
    out: list[Change] = []
    base = os.path.join(upper, rel) if rel else upper
    for name in sorted(os.listdir(base)):
        child = f"{rel}/{name}" if rel else name
        if child in skip:
            continue
        path = os.path.join(upper, child)
        st = os.lstat(path)
        if is_overlay_whiteout(st):
            if not under_added and _in_lower(lowers, child) is not None:
                out.append(Change("/" + child, DELETED))
            continue
        lower = None if under_added else _in_lower(lowers, child)
        is_dir = stat.S_ISDIR(st.st_mode)
        if lower is None:
            out.append(Change("/" + child, ADDED))
            if is_dir:
                out.extend(_walk(upper, lowers, child, skip, under_added=True))
            continue
        if is_dir and stat.S_ISDIR(lower.st_mode):
            below = _walk(upper, lowers, child, skip, under_added=False)
            same = (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (
                stat.S_IMODE(lower.st_mode),
                lower.st_uid,
                lower.st_gid,
            )
            if below or not same:
                out.append(Change("/" + child, MODIFIED))
            out.extend(below)
            continue
        out.append(Change("/" + child, MODIFIED))
        if is_dir:  # a directory replacing a lower non-directory: everything in it is new
            out.extend(_walk(upper, lowers, child, skip, under_added=True))
    return out
