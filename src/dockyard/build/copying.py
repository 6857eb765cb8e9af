"""COPY and ADD: find the sources, hash them for the cache, lay them out as a layer tree.

Synchronous file work (run it in a worker thread). ``stage_copy`` fills a staging
directory that ``dockyard.archive.write_layer`` then turns into the step's layer.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import shutil
import stat
import tarfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from dockyard import errors
from dockyard.idmaps import IdMaps

__all__ = ["CopyPlan", "hash_sources", "resolve_in_root", "resolve_sources", "stage_copy"]

_GLOB_CHARS = set("*?[")


@dataclass(frozen=True)
class CopyPlan:
    """One COPY/ADD: sources (relative to ``src_root``), an absolute destination and the options."""

    sources: tuple[str, ...]
    dest: str
    src_root: str
    dest_is_dir: bool
    chown: tuple[int, int] | None = None
    chmod: int | None = None
    keep_owner: bool = False  # --from: keep the source's uid/gid when no --chown is given
    extract_archives: bool = False  # ADD of a local tar
    inline: Mapping[str, str] = field(default_factory=dict)  # heredoc name -> content
    # Image views (the destination's parent, a --from stage) store owners shifted (userns-remap).
    view_ids: IdMaps | None = None


def resolve_in_root(root: str, path: str) -> str:
    """``path`` inside ``root`` with symlinks followed but never leaving ``root``."""
    parts = [p for p in path.split("/") if p not in ("", ".")]
    cur = ""
    hops = 0
    while parts:
        p = parts.pop(0)
        if p == "..":
            cur = cur.rsplit("/", 1)[0] if "/" in cur else ""
            continue
        nxt = f"{cur}/{p}" if cur else p
        full = os.path.join(root, nxt)
        if os.path.islink(full):
            hops += 1
            if hops > 40:
                raise errors.InvalidArgument(f"too many levels of symbolic links: {path}")
            target = os.readlink(full)
            if target.startswith("/"):
                cur = ""
            parts = [x for x in target.split("/") if x not in ("", ".")] + parts
            continue
        cur = nxt
    return os.path.join(root, cur) if cur else root


def _glob(root: str, pattern: str) -> list[str]:
    parts = [p for p in pattern.split("/") if p not in ("", ".")]
    found = [""]
    for part in parts:
        nxt: list[str] = []
        for base in found:
            dirpath = os.path.join(root, base) if base else root
            if not any(c in part for c in _GLOB_CHARS):
                if os.path.lexists(os.path.join(dirpath, part)):
                    nxt.append(f"{base}/{part}" if base else part)
                continue
            try:
                names = sorted(os.listdir(dirpath))
            except (NotADirectoryError, FileNotFoundError):
                continue
            nxt.extend(f"{base}/{n}" if base else n for n in names if fnmatch.fnmatchcase(n, part))
        found = nxt
    return found


def resolve_sources(root: str, patterns: Sequence[str], inline: Mapping[str, str] = {}) -> list[str]:
    """Every source path the patterns name; ``NotFound`` naming the first that matches nothing."""
    out: list[str] = []
    for pat in patterns:
        if pat in inline:
            out.append(pat)
            continue
        if os.path.normpath(pat.lstrip("/") or ".").split("/")[0] == "..":
            raise errors.InvalidArgument(f"forbidden path outside the build context: {pat}")
        clean = os.path.normpath("/" + pat).lstrip("/")
        matches = _glob(root, clean) if clean else [""]
        if not matches:
            raise errors.NotFound(
                f"COPY failed: file not found in build context or excluded by .dockerignore: stat {pat}: "
                "file does not exist"
            )
        out.extend(matches)
    return out


def _walk(root: str, rel: str) -> list[str]:
    full = os.path.join(root, rel) if rel else root
    if os.path.isdir(full) and not os.path.islink(full):
        out = [rel]
        for name in sorted(os.listdir(full)):
            out.extend(_walk(root, f"{rel}/{name}" if rel else name))
        return out
    return [rel]


def hash_sources(plan: CopyPlan) -> str:
    """A digest of everything the copy depends on: names, contents, modes (and owners with --from)."""
    h = hashlib.sha256()
    for src in plan.sources:
        if src in plan.inline:
            h.update(b"inline\0" + src.encode() + b"\0" + plan.inline[src].encode() + b"\0")
            continue
        for rel in _walk(plan.src_root, src):
            full = os.path.join(plan.src_root, rel) if rel else plan.src_root
            st = os.lstat(full)
            owner = "{}:{}".format(*_image_owner(st, plan.view_ids)) if plan.keep_owner else ""
            h.update(f"{rel}\0{stat.S_IMODE(st.st_mode) | stat.S_IFMT(st.st_mode)}\0{owner}\0".encode())
            if stat.S_ISREG(st.st_mode):
                with open(full, "rb") as f:
                    while chunk := f.read(1 << 20):
                        h.update(chunk)
            elif stat.S_ISLNK(st.st_mode):
                h.update(os.readlink(full).encode())
            h.update(b"\0")
    return h.hexdigest()


def _image_owner(st: os.stat_result, ids: IdMaps | None) -> tuple[int, int]:
    """The owner of a file of an image view as the image has it."""
    return (st.st_uid, st.st_gid) if ids is None else (ids.container_uid(st.st_uid), ids.container_gid(st.st_gid))


class _Stager:
    def __init__(self, plan: CopyPlan, staging: str, lower: str | None) -> None:
        self.plan = plan
        self.staging = staging
        self.lower = lower
        self.dir_times: list[tuple[str, float, float]] = []

    def _owner(self, st: os.stat_result | None) -> tuple[int, int]:
        if self.plan.chown is not None:
            return self.plan.chown
        if self.plan.keep_owner and st is not None:
            return _image_owner(st, self.plan.view_ids)
        return 0, 0

    def ensure_dir(self, path: str) -> str:
        """Create ``path`` (absolute in the image) and its parents in staging, as the image has them."""
        parts = [p for p in path.split("/") if p]
        cur = ""
        for i, p in enumerate(parts):
            cur = f"{cur}/{p}"
            target = self.staging + cur
            if os.path.isdir(target):
                continue
            lower_st = None
            if self.lower is not None:
                real = resolve_in_root(self.lower, cur)
                try:
                    lower_st = os.stat(real)
                except OSError:
                    lower_st = None
            os.mkdir(target)
            if lower_st is not None and stat.S_ISDIR(lower_st.st_mode):
                os.chown(target, *_image_owner(lower_st, self.plan.view_ids))
                os.chmod(target, stat.S_IMODE(lower_st.st_mode))
                self.dir_times.append((target, lower_st.st_atime, lower_st.st_mtime))
            else:
                uid, gid = self.plan.chown if self.plan.chown and i == len(parts) - 1 else (0, 0)
                os.chown(target, uid, gid)
                os.chmod(target, 0o755)
                self.dir_times.append((target, 0, 0))
        return self.staging + cur

    def put_file(self, src_full: str, dest: str) -> None:
        parent, _, _ = dest.rpartition("/")
        self.ensure_dir(parent or "/")
        target = self.staging + dest
        if os.path.isdir(target) and not os.path.islink(target):
            shutil.rmtree(target)
        elif os.path.lexists(target):
            os.unlink(target)
        st = os.lstat(src_full)
        if stat.S_ISLNK(st.st_mode):
            os.symlink(os.readlink(src_full), target)
        else:
            shutil.copyfile(src_full, target)
        self._finish(target, st)

    def _finish(self, target: str, st: os.stat_result) -> None:
        uid, gid = self._owner(st)
        os.lchown(target, uid, gid)
        if not stat.S_ISLNK(st.st_mode):
            mode = self.plan.chmod if self.plan.chmod is not None else stat.S_IMODE(st.st_mode)
            os.chmod(target, mode)
            os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
        else:
            os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)

    def put_tree(self, src_dir: str, dest: str) -> None:
        """The contents of ``src_dir`` into ``dest`` (Docker copies a directory's contents, not itself)."""
        self.ensure_dir(dest)
        for name in sorted(os.listdir(src_dir)):
            full = os.path.join(src_dir, name)
            child = dest.rstrip("/") + "/" + name
            if os.path.isdir(full) and not os.path.islink(full):
                st = os.lstat(full)
                target = self.staging + child
                if not os.path.isdir(target):
                    os.mkdir(target)
                self.put_tree(full, child)
                uid, gid = self._owner(st)
                os.chown(target, uid, gid)
                os.chmod(target, self.plan.chmod if self.plan.chmod is not None else stat.S_IMODE(st.st_mode))
                self.dir_times.append((target, st.st_atime, st.st_mtime))
            else:
                self.put_file(full, child)

    def put_inline(self, content: str, dest: str) -> None:
        parent, _, _ = dest.rpartition("/")
        self.ensure_dir(parent or "/")
        target = self.staging + dest
        with open(target, "w") as f:
            f.write(content)
        uid, gid = self.plan.chown or (0, 0)
        os.chown(target, uid, gid)
        os.chmod(target, self.plan.chmod if self.plan.chmod is not None else 0o644)
        os.utime(target, (0, 0))

    def extract(self, archive: str, dest: str) -> None:
        self.ensure_dir(dest)
        with tarfile.open(archive, "r:*") as tar:
            tar.extractall(self.staging + dest.rstrip("/"), filter="tar" if os.geteuid() else _keep_owner)

    def finish(self) -> None:
        for path, atime, mtime in reversed(self.dir_times):
            os.utime(path, (atime, mtime))


def _keep_owner(member: tarfile.TarInfo, path: str) -> tarfile.TarInfo | None:
    m = tarfile.tar_filter(member, path)
    return m.replace(uid=member.uid, gid=member.gid, mode=member.mode, deep=False) if m is not None else None


def _is_archive(path: str) -> bool:
    try:
        return os.path.isfile(path) and not os.path.islink(path) and tarfile.is_tarfile(path)
    except OSError:
        return False


def stage_copy(plan: CopyPlan, staging: str, lower: str | None) -> None:
    """Lay out the copy's result under ``staging``; ``lower`` is the current rootfs (None for scratch)."""
    s = _Stager(plan, staging, lower)
    dest = plan.dest
    dest_is_dir = plan.dest_is_dir
    if not dest_is_dir and lower is not None and len(plan.sources) == 1:
        # Docker copies into an existing directory even without a trailing slash
        dest_is_dir = os.path.isdir(resolve_in_root(lower, dest)) and dest != "/"
    for src in plan.sources:
        if src in plan.inline:
            target = dest.rstrip("/") + "/" + src if dest_is_dir else dest
            s.put_inline(plan.inline[src], target)
            continue
        full = os.path.join(plan.src_root, src) if src else plan.src_root
        if os.path.isdir(full) and not os.path.islink(full):
            s.put_tree(full, dest)
        elif plan.extract_archives and _is_archive(full):
            s.extract(full, dest)
        else:
            target = dest.rstrip("/") + "/" + os.path.basename(src) if dest_is_dir else dest
            s.put_file(full, target)
    s.finish()
