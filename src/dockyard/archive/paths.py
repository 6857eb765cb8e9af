"""Tar entry names made safe: re-rooted, normalised, never climbing out of the root."""

from __future__ import annotations

from dockyard.errors import UnsafePath

__all__ = ["clean_name"]


def clean_name(name: str) -> str:
    """``./a//b/`` -> ``a/b``; ``/abs`` -> ``abs``; ``''`` for the root itself.

    A ``..`` that would leave the root raises UnsafePath (rather than being
    silently clamped, which would hide a malicious archive).
    """
    parts: list[str] = []
    for part in name.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                raise UnsafePath(f"archive entry {name!r} escapes the layer root")
            parts.pop()
            continue
        if "\x00" in part:
            raise UnsafePath(f"archive entry {name!r} contains a NUL byte")
        parts.append(part)
    return "/".join(parts)
