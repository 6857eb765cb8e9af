"""The build context the CLI sends: a directory tarred honouring .dockerignore, or stdin.

``.dockerignore`` follows Docker's pattern rules: one pattern a line, ``#``
comments, ``!`` exceptions (the last matching pattern wins), ``*``/``?``/``[...]``
within one path component, ``**`` across any number of them, leading ``/`` and
``./`` ignored, and a pattern that matches a directory excludes what is in it.
"""

from __future__ import annotations

import io
import os
import posixpath
import re
import tarfile
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import IO

from dockyard import errors

__all__ = [
    "IgnoreRules",
    "Pattern",
    "context_from_dir",
    "dockerfile_only_context",
    "is_archive",
    "parse_dockerignore",
]

_SPOOL = 64 << 20
_ARCHIVE_MAGIC = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00", b"\x28\xb5\x2f\xfd")


@dataclass(frozen=True)
class Pattern:
    text: str
    exclusion: bool  # a ``!`` line: put back what earlier patterns removed
    regex: re.Pattern[str]


def _glob_regex(pattern: str) -> re.Pattern[str]:
    out = ["^"]
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "*":
            if pattern.startswith("**", i):
                i += 2
                if pattern.startswith("/", i):
                    i += 1
                    out.append("(?:.*/)?")  # `**/` : zero or more whole directories
                else:
                    out.append(".*")
                continue
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            end = pattern.find("]", i + 1)
            if end < 0:
                raise errors.InvalidArgument(f"syntax error in .dockerignore pattern: {pattern}")
            body = pattern[i + 1 : end]
            if body.startswith("^"):
                body = "!" + body[1:]
            out.append("[" + ("^" + body[1:] if body.startswith("!") else body).replace("\\", "\\\\") + "]")
            i = end
        elif c == "\\" and i + 1 < n:
            i += 1
            out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(c))
        i += 1
    out.append("$")
    return re.compile("".join(out))


def parse_dockerignore(text: str) -> list[Pattern]:
    patterns: list[Pattern] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        exclusion = line.startswith("!")
        if exclusion:
            line = line[1:].strip()
        line = posixpath.normpath(line).lstrip("/")
        if line in ("", "."):
            continue
        patterns.append(Pattern(line, exclusion, _glob_regex(line)))
    return patterns


@dataclass(frozen=True)
class IgnoreRules:
    patterns: Sequence[Pattern]

    @property
    def has_exceptions(self) -> bool:
        return any(p.exclusion for p in self.patterns)

    def excluded(self, path: str) -> bool:
        """Whether ``path`` (relative, ``/``-separated) stays out of the context."""
        parents = _parents(path)
        verdict = False
        for p in self.patterns:
            if p.regex.match(path) or any(p.regex.match(parent) for parent in parents):
                verdict = not p.exclusion
        return verdict

    def may_include_below(self, directory: str) -> bool:
        """Whether an exception could put back something inside an excluded ``directory``."""
        prefix = directory + "/"
        for p in self.patterns:
            if p.exclusion and (p.text.startswith(prefix) or "*" in p.text or p.text.startswith("[")):
                return True
        return False


def _parents(path: str) -> list[str]:
    parts = path.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


def _walk(root: str, rules: IgnoreRules) -> Iterator[str]:
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
                if is_dir and rules.may_include_below(child):
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
    rules = IgnoreRules(parse_dockerignore(ignore_text))
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
