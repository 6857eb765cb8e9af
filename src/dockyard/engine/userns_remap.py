"""``userns-remap``: containers run in a user namespace whose root is a subordinate id range of the host.

The range comes from /etc/subuid and /etc/subgid for the configured user
(``default`` means ``dockremap``, as in Docker). The spec side (a user
namespace with these maps) is wired through ``Isolation``; the rootfs side is
not built yet (see :func:`isolation_mounter`).
"""

from __future__ import annotations

import grp
import pwd
from collections.abc import Sequence
from dataclasses import dataclass

from dockyard import errors
from dockyard.engine.isolation import RootfsMounter

__all__ = [
    "IdMaps",
    "isolation_mounter",
    "parse_subid",
    "remap_for",
]

DEFAULT_REMAP_USER = "dockremap"


@dataclass(frozen=True)
class IdMaps:
    """One contiguous range each: container id 0..count-1 -> host id start..start+count-1."""

    uid_start: int
    uid_count: int
    gid_start: int
    gid_count: int

    @property
    def uid_mappings(self) -> tuple[tuple[int, int, int], ...]:
        return ((0, self.uid_start, self.uid_count),)

    @property
    def gid_mappings(self) -> tuple[tuple[int, int, int], ...]:
        return ((0, self.gid_start, self.gid_count),)


def parse_subid(text: str, names: Sequence[str]) -> tuple[int, int] | None:
    """The first ``name:start:count`` range of /etc/subuid (or subgid) for any of ``names`` (a name or an id)."""
    for line in text.splitlines():
        parts = line.strip().split(":")
        if len(parts) != 3 or parts[0] not in names:
            continue
        try:
            start, count = int(parts[1]), int(parts[2])
        except ValueError:
            continue
        if count > 0:
            return start, count
    return None


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except FileNotFoundError:
        return ""


def remap_for(setting: str, subuid: str = "/etc/subuid", subgid: str = "/etc/subgid") -> IdMaps:
    """daemon.json ``userns-remap``: ``default``, ``user``, ``user:group``, ``uid`` or ``uid:gid``."""
    user, _, group = setting.partition(":")
    if user == "default":
        user, group = DEFAULT_REMAP_USER, DEFAULT_REMAP_USER
    group = group or user
    user_names = [user]
    group_names = [group]
    # /etc/subuid may list the user by name or by id: accept both spellings.
    try:
        entry = pwd.getpwuid(int(user)) if user.isdigit() else pwd.getpwnam(user)
        user_names += [entry.pw_name, str(entry.pw_uid)]
    except KeyError:
        pass
    try:
        gentry = grp.getgrgid(int(group)) if group.isdigit() else grp.getgrnam(group)
        group_names += [gentry.gr_name, str(gentry.gr_gid)]
    except KeyError:
        pass
    uids = parse_subid(_read(subuid), user_names)
    gids = parse_subid(_read(subgid), group_names)
    if uids is None:
        raise errors.InvalidArgument(f"userns-remap: no subordinate uid range for {user!r} in {subuid}")
    if gids is None:
        raise errors.InvalidArgument(f"userns-remap: no subordinate gid range for {group!r} in {subgid}")
    return IdMaps(uids[0], uids[1], gids[0], gids[1])


def isolation_mounter(inner: RootfsMounter, remap: IdMaps | None) -> RootfsMounter:
    """The daemon's rootfs mounter: a shareable container's /dev/shm is released with its rootfs.

    A remap needs the rootfs owned by the mapped root. Overlays on idmapped layer mounts
    would do it without copying layers, but overlayfs then writes its upper layer with the
    mounter's credentials (host root, unmapped there) and falls back to read-only; mounting
    it from inside the user namespace (fsopen/fsmount, handing the mount back) is the way
    out and is not built yet, so a configured remap is refused rather than half applied.
    """
    from dockyard.engine.isolation import SharedShmMounter

    if remap is not None:
        raise errors.NotImplementedYet(
            "userns-remap: the subordinate id range is valid, but remapped root filesystems are not supported yet"
        )
    return SharedShmMounter(inner)
