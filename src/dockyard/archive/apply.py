"""Apply a layer tar (plain, gzip or zstd) to a directory, computing its diffID in the same pass.

Whiteouts become overlayfs markers (``whiteouts="overlay"``: 0/0 char devices and
the opaque xattr) or real deletions (``whiteouts="remove"``, for a directory that
already holds a copy of the lower layers). Every entry is checked so nothing is
written outside ``root``: ``..`` escapes, writes through symlinks and hard links
to outside raise ``errors.UnsafePath``. The caller applies into a scratch
snapshot and discards it on error, so a failed apply leaves nothing visible.
"""

from __future__ import annotations

import errno
import gzip
import os
import shutil
import stat
import tarfile
import zlib
from dataclasses import dataclass
from typing import BinaryIO, Literal

import zstandard

from dockyard import errors
from dockyard.archive.compression import decompressed
from dockyard.archive.hashing import HashingReader
from dockyard.archive.paths import clean_name
from dockyard.archive.whiteouts import OPAQUE_XATTR, WH_META_PREFIX, WH_OPAQUE, WH_PREFIX
from dockyard.idmaps import IdMaps
from dockyard.oci.digest import Digest

__all__ = ["ApplyResult", "WhiteoutStyle", "apply_layer"]

WhiteoutStyle = Literal["overlay", "remove"]
_XATTR_PAX = "SCHILY.xattr."


@dataclass(frozen=True)
class ApplyResult:
    diff_id: Digest  # sha256 of the uncompressed tar
    size: int  # bytes of the uncompressed tar


def apply_layer(
    stream: BinaryIO, root: str, *, whiteouts: WhiteoutStyle = "overlay", ids: IdMaps | None = None
) -> ApplyResult:
    """Unpack ``stream`` into ``root`` (which must exist); returns the layer's diffID.

    ``ids`` shifts owners into a remapped user namespace's range (``userns-remap``).
    """
    reader = HashingReader(decompressed(stream))
    applier = _Applier(os.path.abspath(root), whiteouts, ids)
    try:
        with tarfile.open(fileobj=reader, mode="r|") as tar:  # type: ignore[call-overload]
            for member in tar:
                applier.entry(tar, member)
        reader.drain()
    except _CORRUPT as exc:
        raise errors.InvalidArgument(f"invalid layer tar: {exc or type(exc).__name__}") from None
    applier.finish()
    return ApplyResult(reader.digest, reader.hasher.size)


# What a truncated or corrupt (compressed) tar raises; filesystem errors propagate unchanged.
_CORRUPT: tuple[type[BaseException], ...] = (
    tarfile.TarError,
    EOFError,
    zlib.error,
    gzip.BadGzipFile,
    zstandard.ZstdError,
)


class _Applier:
    def __init__(self, root: str, whiteouts: WhiteoutStyle, ids: IdMaps | None = None) -> None:
        self.root = root
        self.whiteouts = whiteouts
        self.ids = ids
        self.is_root = os.geteuid() == 0
        self.dirs: list[tuple[str, tarfile.TarInfo]] = []  # metadata set last: children change mtimes
        self.written: set[str] = set()
        self.opaque: list[str] = []

    # --- paths --------------------------------------------------------------

    def _host(self, rel: str) -> str:
        return os.path.join(self.root, rel) if rel else self.root

    def _ensure_parents(self, rel: str) -> None:
        """Create missing parent directories, refusing to pass through symlinks or files."""
        if not rel:
            return
        parts = rel.split("/")[:-1]
        cur = ""
        for part in parts:
            cur = f"{cur}/{part}" if cur else part
            path = self._host(cur)
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                os.mkdir(path, 0o755)
                self._chown(path, 0, 0)
                continue
            if stat.S_ISLNK(st.st_mode):
                raise errors.UnsafePath(f"archive entry {rel!r} would be written through the symlink {cur!r}")
            if not stat.S_ISDIR(st.st_mode):
                raise errors.UnsafePath(f"archive entry {rel!r} has a parent {cur!r} that is not a directory")

    def _remove(self, path: str) -> None:
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return
        if stat.S_ISDIR(st.st_mode):
            shutil.rmtree(path)
        else:
            os.unlink(path)

    # --- entries ------------------------------------------------------------

    def entry(self, tar: tarfile.TarFile, m: tarfile.TarInfo) -> None:
        rel = clean_name(m.name)
        base = rel.rsplit("/", 1)[-1]
        if base.startswith(WH_PREFIX):
            self._whiteout(rel, base, m)
            return
        self._ensure_parents(rel)
        path = self._host(rel)
        if m.isdir():
            try:
                st = os.lstat(path)
                if not stat.S_ISDIR(st.st_mode):
                    self._remove(path)
                    os.mkdir(path, 0o700)
            except FileNotFoundError:
                os.mkdir(path, 0o700)
            self.dirs.append((path, m))
            self.written.add(rel)
            return
        if not rel:
            raise errors.UnsafePath("archive entry replaces the layer root with a non-directory")
        self._remove(path)
        if m.isreg():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            with os.fdopen(fd, "wb") as out:
                src = tar.extractfile(m)
                if src is not None:
                    shutil.copyfileobj(src, out, 1 << 20)
        elif m.issym():
            os.symlink(m.linkname, path)
        elif m.islnk():
            target_rel = clean_name(m.linkname)
            self._ensure_parents(target_rel)
            target = self._host(target_rel)
            try:
                tst = os.lstat(target)
            except FileNotFoundError:
                raise errors.UnsafePath(f"hard link {rel!r} points at {m.linkname!r}, not in this layer") from None
            if stat.S_ISDIR(tst.st_mode):
                raise errors.UnsafePath(f"hard link {rel!r} points at a directory")
            os.link(target, path, follow_symlinks=False)
            self.written.add(rel)
            return  # a hard link shares its target's metadata
        elif m.ischr() or m.isblk() or m.isfifo():
            kind = stat.S_IFCHR if m.ischr() else stat.S_IFBLK if m.isblk() else stat.S_IFIFO
            try:
                os.mknod(path, kind | 0o600, os.makedev(m.devmajor, m.devminor))
            except PermissionError:
                if self.is_root:
                    raise
                return  # unprivileged: device nodes cannot be made; skip like rootless Docker
        else:
            raise errors.InvalidArgument(f"unsupported archive entry type {m.type!r} for {rel!r}")
        self._metadata(path, m)
        self.written.add(rel)

    def _whiteout(self, rel: str, base: str, m: tarfile.TarInfo) -> None:
        parent_rel = rel.rsplit("/", 1)[0] if "/" in rel else ""
        if base == WH_OPAQUE:
            self._ensure_parents(rel)
            parent = self._host(parent_rel)
            if not os.path.isdir(parent):
                os.mkdir(parent, 0o755)
                self._chown(parent, 0, 0)
            if self.whiteouts == "overlay":
                os.setxattr(parent, OPAQUE_XATTR, b"y", follow_symlinks=False)
            else:
                self.opaque.append(parent_rel)
            return
        if base.startswith(WH_META_PREFIX):
            return  # aufs bookkeeping (.wh..wh.plnk etc.): nothing to apply
        target_rel = (parent_rel + "/" if parent_rel else "") + base[len(WH_PREFIX) :]
        target_rel = clean_name(target_rel)
        if not target_rel:
            raise errors.UnsafePath(f"whiteout {rel!r} names no file")
        self._ensure_parents(target_rel)
        target = self._host(target_rel)
        self._remove(target)
        if self.whiteouts == "overlay":
            os.mknod(target, stat.S_IFCHR | 0o000, os.makedev(0, 0))
            self._chown(target, m.uid, m.gid)

    def _chown(self, path: str, uid: int, gid: int) -> None:
        """Own ``path`` as the archive's ``uid:gid`` (shifted by ``ids``); unprivileged callers keep their own."""
        if not self.is_root:
            return
        if self.ids is not None:
            uid, gid = self.ids.host_uid(uid), self.ids.host_gid(gid)
        os.lchown(path, uid, gid)

    def _metadata(self, path: str, m: tarfile.TarInfo) -> None:
        self._chown(path, m.uid, m.gid)
        if not m.issym():
            os.chmod(path, m.mode & 0o7777)  # after chown, which clears set-id bits
        for key, value in m.pax_headers.items():
            if key.startswith(_XATTR_PAX):
                name = key[len(_XATTR_PAX) :]
                try:
                    os.setxattr(path, name, value.encode("utf-8", "surrogateescape"), follow_symlinks=False)
                except OSError as exc:
                    if exc.errno not in (errno.ENOTSUP, errno.EPERM, errno.EOPNOTSUPP):
                        raise
        mtime = int(m.mtime * 1_000_000_000)
        os.utime(path, ns=(mtime, mtime), follow_symlinks=False)

    def finish(self) -> None:
        for rel in self.opaque:
            self._prune_unwritten(rel)
        for path, m in reversed(self.dirs):
            self._metadata(path, m)

    def _prune_unwritten(self, rel: str) -> None:
        """In ``remove`` mode an opaque dir keeps only what this layer itself wrote."""
        base = self._host(rel)
        for name in os.listdir(base):
            child_rel = f"{rel}/{name}" if rel else name
            if child_rel in self.written:
                if os.path.isdir(os.path.join(base, name)) and not os.path.islink(os.path.join(base, name)):
                    self._prune_unwritten(child_rel)
                continue
            if any(w.startswith(child_rel + "/") for w in self.written):
                self._prune_unwritten(child_rel)
                continue
            self._remove(os.path.join(base, name))
