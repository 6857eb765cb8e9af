"""What an overlay upper dir would hold for a full copy of a tree: the diff of the copy storage driver.

Without overlayfs a container's filesystem is a whole copy of its image's
(``CopySnapshotter``). :func:`materialize_diff` compares the two trees and lays
out the difference the way overlayfs would have: added and changed entries
(regular files as hard links, so nothing is copied), the directories that lead
to them, and 0/0 character devices for deletions. Commit, ``docker diff`` and
the builder then read it exactly like an overlay upper dir.

An entry is unchanged when its type, mode, owner, and (for a file) size and
modification time, (for a link) target or (for a device) number are the same;
a directory only counts as changed for its mode and owner, as in Docker's
naive diff. The caller removes ``out`` when done.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat

__all__ = ["materialize_diff"]


def materialize_diff(lower: str, upper: str, out: str) -> None:
    """Fill the empty directory ``out`` (on ``upper``'s filesystem) with ``upper``'s changes over ``lower``."""
    _diff_dir(lower, upper, out, "")


def _lstat(path: str) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None


def _same(new: os.stat_result, old: os.stat_result, new_path: str, old_path: str) -> bool:
    if stat.S_IFMT(new.st_mode) != stat.S_IFMT(old.st_mode):
        return False
    if (new.st_mode, new.st_uid, new.st_gid) != (old.st_mode, old.st_uid, old.st_gid):
        return False
    if stat.S_ISDIR(new.st_mode):
        return True
    if stat.S_ISLNK(new.st_mode):
        return os.readlink(new_path) == os.readlink(old_path)
    if stat.S_ISCHR(new.st_mode) or stat.S_ISBLK(new.st_mode):
        return new.st_rdev == old.st_rdev
    return (new.st_size, new.st_mtime_ns) == (old.st_size, old.st_mtime_ns)


def _copy_meta(st: os.stat_result, path: str) -> None:
    os.lchown(path, st.st_uid, st.st_gid)
    if not stat.S_ISLNK(st.st_mode):
        os.chmod(path, stat.S_IMODE(st.st_mode))  # after chown, which clears set-id bits
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)


def _place(src: str, dst: str, st: os.stat_result) -> None:
    """``src`` (and all below it) at ``dst``: files hard-linked, everything else made anew."""
    if stat.S_ISDIR(st.st_mode):
        os.mkdir(dst, 0o700)
        for name in sorted(os.listdir(src)):
            child = os.path.join(src, name)
            _place(child, os.path.join(dst, name), os.lstat(child))
    elif stat.S_ISREG(st.st_mode):
        try:
            os.link(src, dst, follow_symlinks=False)
            return  # the same inode: its metadata comes along
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK):
                raise
            shutil.copyfile(src, dst, follow_symlinks=False)
    elif stat.S_ISLNK(st.st_mode):
        os.symlink(os.readlink(src), dst)
    elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) or stat.S_ISFIFO(st.st_mode):
        os.mknod(dst, stat.S_IFMT(st.st_mode) | 0o600, st.st_rdev)
    else:
        return  # sockets are not part of a layer
    _copy_meta(st, dst)


def _diff_dir(lower: str, upper: str, out: str, rel: str) -> bool:
    """Write ``rel``'s changes below ``out``; whether anything was written."""
    upper_dir = os.path.join(upper, rel) if rel else upper
    lower_dir = os.path.join(lower, rel) if rel else lower
    names = sorted(os.listdir(upper_dir))
    lst_dir = _lstat(lower_dir)
    gone = sorted(set(os.listdir(lower_dir)) - set(names)) if lst_dir and stat.S_ISDIR(lst_dir.st_mode) else []
    wrote = False
    for name in names:
        child = f"{rel}/{name}" if rel else name
        new_path, old_path, dst = os.path.join(upper, child), os.path.join(lower, child), os.path.join(out, child)
        new = os.lstat(new_path)
        old = _lstat(old_path)
        if old is not None and stat.S_ISDIR(new.st_mode) and stat.S_ISDIR(old.st_mode):
            os.mkdir(dst, 0o700)
            if _diff_dir(lower, upper, out, child) or not _same(new, old, new_path, old_path):
                _copy_meta(new, dst)
                wrote = True
            else:
                os.rmdir(dst)
            continue
        if old is not None and _same(new, old, new_path, old_path):
            continue
        _place(new_path, dst, new)
        wrote = True
    for name in gone:
        os.mknod(os.path.join(out, rel, name), stat.S_IFCHR | 0o000, os.makedev(0, 0))
        wrote = True
    return wrote
