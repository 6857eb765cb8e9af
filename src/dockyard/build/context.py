"""The build context: unpack the uploaded tar (plain, gzip, bzip2, xz), drop what ``.dockerignore`` excludes."""

from __future__ import annotations

import os
import shutil
import tarfile

from dockyard import errors
from dockyard.dockerignore import IgnoreMatcher

__all__ = ["apply_dockerignore", "apply_ignore", "extract_context", "read_dockerfile"]


def _pad_plain_tar(path: str) -> None:
    """Complete a plain tar whose last member is unpadded and has no end blocks (``docker build -f -`` sends one)."""
    with open(path, "rb") as f:
        magic = f.read(6)
    if magic[:2] == b"\x1f\x8b" or magic[:3] == b"BZh" or magic == b"\xfd7zXZ\x00":
        return
    size = os.path.getsize(path)
    if size == 0:
        return
    with open(path, "ab") as f:
        f.write(b"\0" * ((-size) % 512 + 1024))


def extract_context(archive_path: str, dest: str) -> None:
    """Extract ``archive_path`` (plain, gzip, bzip2 or xz tar) into ``dest``, refusing paths outside it."""
    _pad_plain_tar(archive_path)
    try:
        tar = tarfile.open(archive_path, "r:*")  # noqa: SIM115 - closed by the with below
    except (tarfile.TarError, EOFError, OSError) as exc:
        if os.path.getsize(archive_path) == 0:
            return
        if _dockerfile_body(archive_path, dest):
            return
        raise errors.InvalidArgument(f"failed to read the build context: {exc}") from None
    with tar:
        try:
            tar.extractall(dest, filter=_filter)
        except (tarfile.TarError, EOFError) as exc:
            raise errors.InvalidArgument(f"invalid build context: {exc}") from None


def apply_dockerignore(root: str) -> None:
    """Apply the context's ``.dockerignore`` (call after the Dockerfile was read: it may be excluded)."""
    ignore = os.path.join(root, ".dockerignore")
    if os.path.isfile(ignore):
        with open(ignore, encoding="utf-8", errors="replace") as f:
            apply_ignore(root, IgnoreMatcher.from_text(f.read()))


def _dockerfile_body(path: str, dest: str) -> bool:
    """A body that is not a tar but text is a bare Dockerfile (an empty context), as Docker accepts."""
    if os.path.getsize(path) > 1 << 20:
        return False
    with open(path, "rb") as f:
        data = f.read().rstrip(b"\0")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    with open(os.path.join(dest, "Dockerfile"), "wb") as f:
        f.write(data)
    return True


def _filter(member: tarfile.TarInfo, path: str) -> tarfile.TarInfo | None:
    m = tarfile.tar_filter(member, path) if not member.isdev() else None
    if m is None:
        return None
    # keep ownership as sent (tar_filter drops it); COPY sets its own unless --chown is used
    return m.replace(uid=member.uid, gid=member.gid, mode=member.mode, deep=False)


def apply_ignore(root: str, matcher: IgnoreMatcher) -> None:
    """Delete excluded paths (the Dockerfile and ``.dockerignore`` were read before, so they may go too)."""
    for dirpath, dirnames, filenames in os.walk(root, topdown=True):
        rel_dir = os.path.relpath(dirpath, root)
        rel_dir = "" if rel_dir == "." else rel_dir
        keep_dirs = []
        for d in dirnames:
            rel = f"{rel_dir}/{d}" if rel_dir else d
            if matcher.excluded(rel) and not matcher.may_reinclude_below(rel):
                shutil.rmtree(os.path.join(dirpath, d), ignore_errors=True)
            else:
                keep_dirs.append(d)
        dirnames[:] = keep_dirs
        for f in filenames:
            rel = f"{rel_dir}/{f}" if rel_dir else f
            if matcher.excluded(rel):
                os.unlink(os.path.join(dirpath, f))


def read_dockerfile(context_dir: str, name: str) -> str:
    """The Dockerfile at ``name`` inside the context (``Dockerfile`` by default; also ``dockerfile``)."""
    name = name or "Dockerfile"
    path = os.path.normpath(os.path.join(context_dir, name.lstrip("/")))
    if not (path + "/").startswith(os.path.normpath(context_dir) + "/"):
        raise errors.InvalidArgument(f"the Dockerfile ({name}) must be within the build context")
    if not os.path.isfile(path) and name == "Dockerfile":
        alt = os.path.join(context_dir, "dockerfile")
        if os.path.isfile(alt):
            path = alt
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except FileNotFoundError:
        raise errors.InvalidArgument(f"Cannot locate specified Dockerfile: {name}") from None
