"""The build context the CLI sends: a directory tarred honouring .dockerignore, or stdin.

The ``.dockerignore`` rules are ``dockyard.dockerignore``'s, the same the daemon applies.
"""

from __future__ import annotations

import io
import os
import posixpath
import tarfile
import tempfile
from collections.abc import Iterator
from typing import IO

from dockyard import errors
from dockyard.dockerignore import IgnoreMatcher

__all__ = ["context_from_dir", "dockerfile_only_context", "is_archive"]

_SPOOL = 64 << 20
_ARCHIVE_MAGIC = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00", b"\x28\xb5\x2f\xfd")


def _walk(root: str, rules: IgnoreMatcher) -> Iterator[str]:
    """Relative paths to send, parents before children, in a stable order."""
    stack = [""]
    while stack:
        rel = stack.pop()
        full = os.path.join(root, rel) if rel else root
        try:
            entries = sorted(os.listdir(full), reverse=True)
        except OSError as exc:
            raise errors.InvalidArgument(f"error checking context: can't stat '{full}': {exc.strerror}") from None
        for name in entries:
            child = f"{rel}/{name}" if rel else name
            path = os.path.join(root, child)
            is_dir = os.path.isdir(path) and not os.path.islink(path)
            if rules.excluded(child):
                if is_dir and rules.may_reinclude_below(child):
                    stack.append(child)
                continue
            yield child
            if is_dir:
                stack.append(child)


def _reset(info: tarfile.TarInfo) -> tarfile.TarInfo:
    # docker sends uid/gid 0 and no owner names: the context must not depend on the local user.
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def context_from_dir(
    root: str, dockerfile_name: str, *, extra: dict[str, bytes] | None = None
) -> tuple[IO[bytes], int]:
    """A tar of ``root`` (spooled; caller closes) and its file count; Dockerfile and .dockerignore always go."""
    try:
        ignore_text = open(os.path.join(root, ".dockerignore")).read()  # noqa: SIM115 - read at once
    except FileNotFoundError:
        ignore_text = ""
    rules = IgnoreMatcher.from_text(ignore_text)
    keep = {posixpath.normpath(dockerfile_name), ".dockerignore"}
    buf = tempfile.SpooledTemporaryFile(max_size=_SPOOL)  # noqa: SIM115 - returned to the caller
    count = 0
    with tarfile.open(fileobj=buf, mode="w|", format=tarfile.PAX_FORMAT) as tf:  # type: ignore[call-overload]
        paths = list(_walk(root, rules))
        for extra_keep in sorted(keep):
            if extra_keep not in paths and os.path.lexists(os.path.join(root, extra_keep)):
                paths.append(extra_keep)
        for rel in paths:
            info = tf.gettarinfo(os.path.join(root, rel), arcname=rel)
            _reset(info)
            if info.isreg():
                with open(os.path.join(root, rel), "rb") as f:
                    tf.addfile(info, f)
            else:
                tf.addfile(info)
            count += 1
        for name, data in (extra or {}).items():
            info = _reset(tarfile.TarInfo(name))
            info.size, info.mode = len(data), 0o600
            tf.addfile(info, io.BytesIO(data))
    buf.seek(0)
    return buf, count  # type: ignore[return-value]


def dockerfile_only_context(dockerfile: bytes) -> bytes:
    """A context holding just a ``Dockerfile`` (``build - < Dockerfile``)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tf:
        info = _reset(tarfile.TarInfo("Dockerfile"))
        info.size, info.mode = len(dockerfile), 0o600
        tf.addfile(info, io.BytesIO(dockerfile))
    return out.getvalue()


def is_archive(head: bytes) -> bool:
    """Whether stdin holds a (maybe compressed) tar rather than a Dockerfile."""
    if head.startswith(_ARCHIVE_MAGIC):
        return True
    return len(head) >= 262 and head[257:262] == b"ustar"
