"""Docker's copy-up: a new, empty volume mounted over image content starts with a copy of it.

Ownership, modes, timestamps, symlinks, hard links and device nodes are kept.
Nothing is followed: the source is already resolved inside the rootfs, and
links below it are copied as links.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat

__all__ = ["copy_up", "is_empty_dir"]


def is_empty_dir(path: str) -> bool:
    with os.scandir(path) as it:
        return next(it, None) is None


def _copy_meta(src_st: os.stat_result, dst: str) -> None:
    os.lchown(dst, src_st.st_uid, src_st.st_gid)
    if not stat.S_ISLNK(src_st.st_mode):
        # chmod after chown: chown clears the set-id bits.
        os.chmod(dst, stat.S_IMODE(src_st.st_mode))
    os.utime(dst, ns=(src_st.st_atime_ns, src_st.st_mtime_ns), follow_symlinks=False)


def _copy_entry(src: str, dst: str, st: os.stat_result, links: dict[tuple[int, int], str]) -> None:
    mode = st.st_mode
    if not stat.S_ISDIR(mode) and st.st_nlink > 1:
        first = links.get((st.st_dev, st.st_ino))
        if first is not None:
            os.link(first, dst)
            return
        links[(st.st_dev, st.st_ino)] = dst
    if stat.S_ISREG(mode):
        shutil.copyfile(src, dst, follow_symlinks=False)
    elif stat.S_ISLNK(mode):
        os.symlink(os.readlink(src), dst)
    elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISFIFO(mode):
        os.mknod(dst, mode, st.st_rdev)
    elif stat.S_ISSOCK(mode):
        return  # sockets are not content
    _copy_meta(st, dst)


def copy_up(source: str, volume_dir: str) -> bool:
    """Copy the directory ``source`` into ``volume_dir`` if that is empty; returns whether it copied.

    A missing source, or one that is not a directory, copies nothing (as in Docker). The
    volume's root takes the source directory's owner and mode.
    """
    try:
        top = os.lstat(source)
    except FileNotFoundError:
        return False
    if not stat.S_ISDIR(top.st_mode) or not is_empty_dir(volume_dir):
        return False
    links: dict[tuple[int, int], str] = {}
    dirs: list[tuple[str, os.stat_result]] = []
    for dirpath, dirnames, filenames in os.walk(source, followlinks=False):
        rel = os.path.relpath(dirpath, source)
        out_dir = volume_dir if rel == "." else os.path.join(volume_dir, rel)
        for name in dirnames + filenames:
            src = os.path.join(dirpath, name)
            dst = os.path.join(out_dir, name)
            st = os.lstat(src)
            if stat.S_ISDIR(st.st_mode):
                os.mkdir(dst, 0o700)
                dirs.append((dst, st))
            else:
                _copy_entry(src, dst, st, links)
    # Directory times and modes last: writing into a directory changes its mtime, and a
    # read-only mode would stop the copy.
    for dst, st in reversed(dirs):
        _copy_meta(st, dst)
    with contextlib.suppress(OSError):
        _copy_meta(top, volume_dir)
    return True
