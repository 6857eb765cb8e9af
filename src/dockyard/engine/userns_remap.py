"""``userns-remap``: containers run in a user namespace whose root is a subordinate id range of the host.

The range comes from /etc/subuid and /etc/subgid for the configured user
(``default`` means ``dockremap``, created with a free range when missing, as in
Docker). Like Docker, a remapped daemon keeps its state in ``<data-root>/<uid>.<gid>``:
images pulled or loaded there are unpacked with shifted owners
(:class:`dockyard.idmaps.IdMaps`), so layers, writable layers and volumes belong
to the mapped root and no layer is shared with an unmapped daemon.
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import subprocess
from collections.abc import Callable, Sequence

from dockyard import errors
from dockyard.idmaps import IdMaps

__all__ = [
    "IdMaps",
    "check_searchable",
    "next_free_range",
    "parse_subid",
    "prime_netns",
    "remap_for",
    "remapped_root",
]

DEFAULT_REMAP_USER = "dockremap"
DEFAULT_RANGE = 65536
_FIRST_ID = 100000  # below it: ids of real users and groups


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


def next_free_range(texts: Sequence[str], first: int = _FIRST_ID) -> int:
    """Where a new range starts: after every range in these /etc/subuid-format texts, never below ``first``."""
    end = first
    for text in texts:
        for line in text.splitlines():
            parts = line.strip().split(":")
            if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
                end = max(end, int(parts[1]) + int(parts[2]))
    return end


def _append_line(path: str, existing: str, line: str) -> None:
    with open(path, "a") as f:
        f.write(("\n" if existing and not existing.endswith("\n") else "") + line + "\n")


def _useradd(name: str) -> None:
    subprocess.run(
        ["useradd", "--system", "--shell", "/bin/false", "--no-create-home", name],
        check=True,
        capture_output=True,
    )


def _ensure_default_user(subuid: str, subgid: str, useradd: Callable[[str], None]) -> None:
    """Docker's ``default``: a ``dockremap`` user with one free range of uids and gids."""
    try:
        pwd.getpwnam(DEFAULT_REMAP_USER)
    except KeyError:
        try:
            useradd(DEFAULT_REMAP_USER)
        except (OSError, subprocess.CalledProcessError) as exc:
            raise errors.InvalidArgument(f"userns-remap: cannot create the user {DEFAULT_REMAP_USER}: {exc}") from None
    texts = [_read(subuid), _read(subgid)]
    start = next_free_range(texts)
    for path, text in ((subuid, texts[0]), (subgid, texts[1])):
        if parse_subid(text, [DEFAULT_REMAP_USER]) is None:
            _append_line(path, text, f"{DEFAULT_REMAP_USER}:{start}:{DEFAULT_RANGE}")


def remap_for(
    setting: str,
    subuid: str = "/etc/subuid",
    subgid: str = "/etc/subgid",
    useradd: Callable[[str], None] = _useradd,
) -> IdMaps:
    """daemon.json ``userns-remap``: ``default``, ``user``, ``user:group``, ``uid`` or ``uid:gid``."""
    user, _, group = setting.partition(":")
    if user == "default":
        user, group = DEFAULT_REMAP_USER, DEFAULT_REMAP_USER
        names = [DEFAULT_REMAP_USER]
        if parse_subid(_read(subuid), names) is None or parse_subid(_read(subgid), names) is None:
            _ensure_default_user(subuid, subgid, useradd)
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


def check_searchable(path: str) -> None:
    """The remapped root must pass through every directory above ``path``, as "other"."""
    cur = os.path.abspath(path)
    while True:
        try:
            mode = os.stat(cur).st_mode
        except FileNotFoundError:
            mode = 0o755  # made by the daemon, 0711
        if not mode & 0o001:
            raise errors.InvalidArgument(
                f"userns-remap: containers' root cannot pass through {cur} (mode {mode & 0o777:o}): "
                "make it searchable by others (chmod o+x)"
            )
        if cur == "/":
            return
        cur = os.path.dirname(cur)


def remapped_root(data_root: str, maps: IdMaps) -> str:
    """``<data_root>/<uid>.<gid>``, the remapped daemon's state: the mapped root may pass (0710, its group)."""
    check_searchable(data_root)
    path = os.path.join(data_root, f"{maps.uid_start}.{maps.gid_start}")
    os.makedirs(path, mode=0o710, exist_ok=True)
    os.chown(path, 0, maps.gid_start)
    os.chmod(path, 0o710)
    return path


def prime_netns(path: str) -> None:
    """Docker's unprivileged-port and ping sysctls in the network namespace the daemon made at ``path``.

    That namespace belongs to the host's user namespace, so a runtime working as the remapped
    root could not write them; the daemon does, from a thread inside the namespace.
    """
    from dockyard.containers.specgen import UNPRIVILEGED_NET_SYSCTLS
    from dockyard.network.netns import run_in_netns

    def write() -> None:
        for key, value in UNPRIVILEGED_NET_SYSCTLS:
            with contextlib.suppress(FileNotFoundError), open("/proc/sys/" + key.replace(".", "/"), "w") as f:
                f.write(value)

    run_in_netns(path, write)
