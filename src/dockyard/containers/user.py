"""Resolving a container's ``User`` against the image's /etc/passwd and /etc/group (runc's rules)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from dockyard.containers.rootfs import read_rootfs_file
from dockyard.errors import InvalidArgument

__all__ = [
    "GroupEntry",
    "PasswdEntry",
    "ResolvedUser",
    "parse_group",
    "parse_passwd",
    "read_user_files",
    "resolve_user",
    "resolve_user_in_rootfs",
]

_MAX_ID = 2**31 - 1


@dataclass(frozen=True)
class PasswdEntry:
    name: str
    uid: int
    gid: int
    home: str = ""
    shell: str = ""


@dataclass(frozen=True)
class GroupEntry:
    name: str
    gid: int
    members: tuple[str, ...] = ()


@dataclass(frozen=True)
class ResolvedUser:
    """Who the process runs as; ``additional_gids`` lists the primary gid first, as Docker's spec does."""

    uid: int
    gid: int
    additional_gids: tuple[int, ...]
    home: str = "/"


def _int(text: str) -> int | None:
    text = text.strip()
    return int(text) if text.isdigit() else None


def parse_passwd(text: str) -> list[PasswdEntry]:
    """Entries of a passwd file; malformed lines (and comments) are skipped, as libc does."""
    out = []
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = line.split(":")
        fields += [""] * (7 - len(fields))
        uid, gid = _int(fields[2]), _int(fields[3])
        if uid is None or gid is None:
            continue
        out.append(PasswdEntry(fields[0], uid, gid, fields[5], fields[6]))
    return out


def parse_group(text: str) -> list[GroupEntry]:
    """Entries of a group file; malformed lines are skipped."""
    out = []
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = line.split(":")
        fields += [""] * (4 - len(fields))
        gid = _int(fields[2])
        if gid is None:
            continue
        members = tuple(m.strip() for m in fields[3].split(",") if m.strip())
        out.append(GroupEntry(fields[0], gid, members))
    return out


def _check_range(n: int) -> int:
    if n > _MAX_ID:
        raise InvalidArgument("user: uids and gids must be in range 0-2147483647")
    return n


def _additional_groups(names: Iterable[str], groups: Sequence[GroupEntry]) -> list[int]:
    out: list[int] = []
    for name in names:
        found = [g.gid for g in groups if g.name == name or str(g.gid) == name]
        if not found:
            number = _int(name)
            if number is None:
                raise InvalidArgument(f"Unable to find group {name}: no matching entries in group file")
            found = [_check_range(number)]
        out.extend(found)
    return out


def resolve_user(spec: str, passwd_text: str = "", group_text: str = "", group_add: Iterable[str] = ()) -> ResolvedUser:
    """Resolve ``"name"``, ``"uid"``, ``"name:group"``, ``"uid:gid"`` ... (runc's ``GetExecUser``).

    An empty spec is root (its passwd entry, if any, gives home and groups). Numeric
    ids need no passwd entry; a name that matches none raises runc's error.
    Supplementary groups come from group membership (only when no group is given)
    and from ``group_add`` (``HostConfig.GroupAdd``: names or gids).
    """
    users = parse_passwd(passwd_text)
    groups = parse_group(group_text)
    user_arg, _, group_arg = spec.partition(":")
    uid_arg = _int(user_arg)

    name, uid, gid, home = "", 0, 0, "/"
    if user_arg == "":
        match = next((u for u in users if u.uid == 0), None)
    elif uid_arg is not None:
        match = next((u for u in users if u.uid == uid_arg), None)
    else:
        match = next((u for u in users if u.name == user_arg), None)
    if match is not None:
        name, uid, gid, home = match.name, match.uid, match.gid, match.home or "/"
    elif user_arg != "":
        if uid_arg is None:
            raise InvalidArgument(f"unable to find user {user_arg}: no matching entries in passwd file")
        uid = _check_range(uid_arg)

    supplementary: list[int] = []
    if group_arg:
        gid_arg = _int(group_arg)
        found = next((g for g in groups if (g.gid == gid_arg if gid_arg is not None else g.name == group_arg)), None)
        if found is not None:
            gid = found.gid
        elif gid_arg is None:
            raise InvalidArgument(f"unable to find group {group_arg}: no matching entries in group file")
        else:
            gid = _check_range(gid_arg)
    elif name:
        supplementary = [g.gid for g in groups if name in g.members]

    extra = _additional_groups(group_add, groups)
    gids = tuple(dict.fromkeys([gid, *supplementary, *extra]))
    return ResolvedUser(uid=uid, gid=gid, additional_gids=gids, home=home)


def read_user_files(rootfs: str) -> tuple[str, str]:
    """The texts of ``/etc/passwd`` and ``/etc/group`` inside ``rootfs`` (``""`` for a missing one)."""
    return read_rootfs_file(rootfs, "/etc/passwd"), read_rootfs_file(rootfs, "/etc/group")


def resolve_user_in_rootfs(rootfs: str, spec: str, group_add: Iterable[str] = ()) -> ResolvedUser:
    """:func:`resolve_user` against the files of a mounted rootfs."""
    passwd, group = read_user_files(rootfs)
    return resolve_user(spec, passwd, group, group_add)
