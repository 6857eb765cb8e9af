"""Whiteout names in layer tars and their overlayfs on-disk forms."""

from __future__ import annotations

import os
import stat

__all__ = [
    "OPAQUE_XATTR",
    "WH_META_PREFIX",
    "WH_OPAQUE",
    "WH_PREFIX",
    "is_overlay_whiteout",
    "whiteout_name",
    "whiteout_target",
]

WH_PREFIX = ".wh."
WH_META_PREFIX = ".wh..wh."
WH_OPAQUE = ".wh..wh..opq"
OPAQUE_XATTR = "trusted.overlay.opaque"


def whiteout_target(name: str) -> str | None:
    """For a tar entry ``dir/.wh.x`` the path it deletes (``dir/x``); None if not a whiteout.

    Opaque markers and other ``.wh..wh.`` metadata return None: they are handled apart.
    """
    head, base = os.path.split(name)
    if not base.startswith(WH_PREFIX) or base.startswith(WH_META_PREFIX):
        return None
    return os.path.join(head, base[len(WH_PREFIX) :])


def whiteout_name(path: str) -> str:
    """The tar name whiting out ``path`` (``dir/x`` -> ``dir/.wh.x``)."""
    head, base = os.path.split(path)
    return os.path.join(head, WH_PREFIX + base)


def is_overlay_whiteout(st: os.stat_result) -> bool:
    """overlayfs marks deletions with a 0/0 character device."""
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0
