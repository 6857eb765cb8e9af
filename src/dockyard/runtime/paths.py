"""Path decisions inside a container's rootfs: safe joins and executable lookup."""

from __future__ import annotations

import os
import stat

from dockyard.errors import Forbidden, NotFound, UnsafePath

__all__ = [
    "DEFAULT_PATH",
    "ExecutableNotFound",
    "ExecutablePermissionDenied",
    "find_executable",
    "path_from_env",
    "secure_join",
]

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_MAX_LINKS = 255


class ExecutableNotFound(NotFound):
    """The process's program is not in the rootfs (Docker maps this to exit code 127)."""


class ExecutablePermissionDenied(Forbidden):
    """The program exists but cannot be executed (Docker maps this to 126)."""


def secure_join(root: str, unsafe: str) -> str:
    """``root``/``unsafe`` with every symlink resolved as if ``root`` were /, so the result stays below it.

    Missing components are kept as they are (the caller is about to create them).
    """
    root = root.rstrip("/") or "/"
    parts = [p for p in unsafe.split("/") if p]
    resolved: list[str] = []
    links = 0
    while parts:
        part = parts.pop(0)
        if part == ".":
            continue
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = root + "/" + "/".join([*resolved, part])
        try:
            target = os.readlink(candidate)
        except OSError:  # not a symlink, or missing
            resolved.append(part)
            continue
        links += 1
        if links > _MAX_LINKS:
            raise UnsafePath(f"too many symlinks resolving {unsafe!r} in {root}")
        if target.startswith("/"):
            resolved = []
        parts = [p for p in target.split("/") if p] + parts
    return root.rstrip("/") + "/" + "/".join(resolved) if resolved else root


def path_from_env(env: tuple[str, ...] | list[str]) -> str:
    for item in env:
        if item.startswith("PATH="):
            return item[5:]
    return DEFAULT_PATH


def _check_file(path: str, arg0: str) -> str | None:
    """``path`` if it is an executable regular file; None if it does not exist."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    except NotADirectoryError:
        return None
    if stat.S_ISDIR(st.st_mode) or not os.access(path, os.X_OK):
        raise ExecutablePermissionDenied(f'exec: "{arg0}": permission denied')
    return path


def find_executable(arg0: str, search_path: str) -> str:
    """Resolve argv[0] like Go's exec.LookPath (which runc uses), in the current root."""
    if "/" in arg0:
        if _check_file(arg0, arg0) is None:
            raise ExecutableNotFound(
                f'exec: "{arg0}": stat {arg0}: no such file or directory: executable file not found'
            )
        return arg0
    denied: ExecutablePermissionDenied | None = None
    for directory in search_path.split(":"):
        candidate = (directory or ".") + "/" + arg0
        try:
            found = _check_file(candidate, arg0)
        except ExecutablePermissionDenied as e:
            denied = denied or e
            continue
        if found is not None:
            return found
    if denied is not None:
        raise denied
    raise ExecutableNotFound(f'exec: "{arg0}": executable file not found in $PATH')
