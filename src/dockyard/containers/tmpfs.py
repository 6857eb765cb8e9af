"""tmpfs mount options as Docker builds them for ``--tmpfs`` and ``--mount type=tmpfs``."""

from __future__ import annotations

from collections.abc import Sequence

from dockyard.errors import InvalidArgument

__all__ = ["DEFAULT_TMPFS_OPTIONS", "merge_tmpfs_options", "tmpfs_mount_options", "tmpfs_options_data"]

DEFAULT_TMPFS_OPTIONS: tuple[str, ...] = ("noexec", "nosuid", "nodev", "rprivate")

# Flag options keyed by what they collide with: a later "exec" overrides an earlier "noexec".
_FLAG_KEYS = {
    "ro": "rdonly",
    "rw": "rdonly",
    "suid": "nosuid",
    "nosuid": "nosuid",
    "dev": "nodev",
    "nodev": "nodev",
    "exec": "noexec",
    "noexec": "noexec",
    "sync": "sync",
    "async": "sync",
    "dirsync": "dirsync",
    "remount": "remount",
    "mand": "mand",
    "nomand": "mand",
    "atime": "noatime",
    "noatime": "noatime",
    "diratime": "nodiratime",
    "nodiratime": "nodiratime",
    "bind": "bind",
    "rbind": "rbind",
    "relatime": "relatime",
    "norelatime": "relatime",
    "strictatime": "strictatime",
    "nostrictatime": "strictatime",
}
_PROPAGATION = {"private", "rprivate", "shared", "rshared", "slave", "rslave", "unbindable", "runbindable"}
_DATA_KEYS = {"size", "mode", "uid", "gid", "nr_inodes", "nr_blocks", "mpol"}


def merge_tmpfs_options(options: Sequence[str]) -> list[str]:
    """Options with later ones winning over earlier ones they conflict with (moby's MergeTmpfsOptions)."""
    seen: set[str] = set()
    out: list[str] = []
    for option in reversed(options):
        if option == "defaults":
            continue
        if option in _PROPAGATION:
            key = "propagation"
        elif option in _FLAG_KEYS:
            key = _FLAG_KEYS[option]
        else:
            name, sep, _ = option.partition("=")
            if not sep or name not in _DATA_KEYS:
                raise InvalidArgument(f'Invalid tmpfs option "{option}"')
            key = "data:" + name
        if key not in seen:
            seen.add(key)
            out.insert(0, option)
    return out


def tmpfs_mount_options(data: str) -> list[str]:
    """The options of a tmpfs mount whose user-given option string is ``data`` (``"size=64m,exec"``)."""
    extra = [o for o in data.split(",") if o] if data else []
    return merge_tmpfs_options([*DEFAULT_TMPFS_OPTIONS, *extra])


def tmpfs_options_data(size_bytes: int, mode: int, read_only: bool) -> str:
    """``--mount type=tmpfs`` options as an option string (size with the largest exact k/m/g suffix)."""
    raw: list[str] = []
    if read_only:
        raw.append("ro")
    if mode:
        raw.append(f"mode={mode:o}")
    if size_bytes:
        size, suffix = size_bytes, ""
        for unit, divisor in (("g", 1 << 30), ("m", 1 << 20), ("k", 1 << 10)):
            if size_bytes % divisor == 0:
                size, suffix = size_bytes // divisor, unit
                break
        raw.append(f"size={size}{suffix}")
    return ",".join(raw)
