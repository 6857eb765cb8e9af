"""Make a layer tar from a directory of changes (an overlay upper dir, or a full rootfs).

overlayfs whiteouts (0/0 char devices) become ``.wh.<name>`` entries and opaque
directories get a ``.wh..wh..opq`` entry. Output is deterministic: entries sorted
by name, no atime/ctime, no user or group names, so one tree always gives one diffID.
Shared by container commit and the builder.
"""

from __future__ import annotations

import io
import os
import stat
import tarfile
from collections.abc import Collection
from typing import BinaryIO

from dockyard.archive.apply import ApplyResult
from dockyard.archive.hashing import HashingWriter
from dockyard.archive.whiteouts import OPAQUE_XATTR, WH_OPAQUE, is_overlay_whiteout, whiteout_name
from dockyard.idmaps import IdMaps

__all__ = ["write_layer"]

_SKIP_XATTR_PREFIX = "trusted.overlay."


def write_layer(
    src: str,
    out: BinaryIO | None,
    *,
    mtime: int | None = None,
    skip: Collection[str] = (),
    ids: IdMaps | None = None,
) -> ApplyResult:
    """Write ``src`` as an uncompressed layer tar to ``out``; returns its diffID and size.

    ``mtime`` forces every entry's modification time (for reproducible images);
    ``skip`` names relative paths left out with everything below them (mountpoint stubs);
    ``ids`` maps owners back from a remapped user namespace's range (``userns-remap``).
    """
    sink = HashingWriter(out)
    with tarfile.open(fileobj=sink, mode="w|", format=tarfile.PAX_FORMAT) as tar:  # type: ignore[call-overload]
        links: dict[tuple[int, int], str] = {}
        for rel in _walk(src, frozenset(skip)):
            _add(tar, src, rel, links, mtime, ids)
    return ApplyResult(sink.digest, sink.hasher.size)


def _walk(root: str, skip: frozenset[str] = frozenset()) -> list[str]:
    """Every path under ``root`` (relative), parents before children, siblings sorted."""
    found: list[str] = []

    def visit(rel: str) -> None:
        path = os.path.join(root, rel) if rel else root
        for name in sorted(os.listdir(path)):
            child = f"{rel}/{name}" if rel else name
            if child in skip:
                continue
            found.append(child)
            cpath = os.path.join(root, child)
            if os.path.isdir(cpath) and not os.path.islink(cpath):
                visit(child)

    visit("")
    return found


def _xattrs(path: str) -> dict[str, str]:
    try:
        names = sorted(os.listxattr(path, follow_symlinks=False))
    except OSError:
        return {}
    out: dict[str, str] = {}
    for name in names:
        if name.startswith(_SKIP_XATTR_PREFIX):
            continue
        try:
            out["SCHILY.xattr." + name] = os.getxattr(path, name, follow_symlinks=False).decode(
                "utf-8", "surrogateescape"
            )
        except OSError:
            continue
    return out


def _is_opaque(path: str) -> bool:
    try:
        return os.getxattr(path, OPAQUE_XATTR, follow_symlinks=False) == b"y"
    except OSError:
        return False


def _add(
    tar: tarfile.TarFile,
    root: str,
    rel: str,
    links: dict[tuple[int, int], str],
    mtime: int | None,
    ids: IdMaps | None,
) -> None:
    path = os.path.join(root, rel)
    st = os.lstat(path)
    ti = tarfile.TarInfo(rel)
    ti.uid, ti.gid = (
        (st.st_uid, st.st_gid) if ids is None else (ids.container_uid(st.st_uid), ids.container_gid(st.st_gid))
    )
    ti.uname = ti.gname = ""
    ti.mode = stat.S_IMODE(st.st_mode)
    ti.mtime = int(st.st_mtime) if mtime is None else mtime
    if is_overlay_whiteout(st):
        wh = tarfile.TarInfo(whiteout_name(rel))
        wh.uid, wh.gid, wh.mode, wh.mtime = ti.uid, ti.gid, 0o644, ti.mtime
        wh.uname = wh.gname = ""
        tar.addfile(wh)
        return
    ti.pax_headers = _xattrs(path)
    fileobj: BinaryIO | None = None
    if stat.S_ISDIR(st.st_mode):
        ti.type = tarfile.DIRTYPE
    elif stat.S_ISLNK(st.st_mode):
        ti.type = tarfile.SYMTYPE
        ti.linkname = os.readlink(path)
    elif stat.S_ISREG(st.st_mode):
        key = (st.st_dev, st.st_ino)
        if st.st_nlink > 1 and key in links:
            ti.type = tarfile.LNKTYPE
            ti.linkname = links[key]
        else:
            if st.st_nlink > 1:
                links[key] = rel
            ti.type = tarfile.REGTYPE
            ti.size = st.st_size
            fileobj = open(path, "rb")  # noqa: SIM115 - closed below
    elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
        ti.type = tarfile.CHRTYPE if stat.S_ISCHR(st.st_mode) else tarfile.BLKTYPE
        ti.devmajor, ti.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
    elif stat.S_ISFIFO(st.st_mode):
        ti.type = tarfile.FIFOTYPE
    else:
        return  # sockets cannot be archived
    try:
        tar.addfile(ti, fileobj)
    finally:
        if fileobj is not None:
            fileobj.close()
    if ti.type == tarfile.DIRTYPE and _is_opaque(path):
        opq = tarfile.TarInfo(f"{rel}/{WH_OPAQUE}")
        opq.uid, opq.gid, opq.mode, opq.mtime = ti.uid, ti.gid, 0o644, ti.mtime
        opq.uname = opq.gname = ""
        tar.addfile(opq, io.BytesIO(b""))
