"""Arguments many commands share: references acted on one by one, ``repo[:tag]``, ``-f key=value`` filters."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from typing import Any

from dockyard import errors
from dockyard.client.errors import APIError, DaemonUnreachable

__all__ = ["each", "parse_filters", "split_repo_tag"]


def each(refs: Iterable[str], action: Callable[[str], Any], *, echo: bool = True) -> int:
    """Apply ``action`` to every ref, reporting failures as docker does; 1 if any failed."""
    rc = 0
    for ref in refs:
        try:
            action(ref)
        except DaemonUnreachable:
            raise
        except APIError as exc:
            print(f"Error response from daemon: {exc.message}", file=sys.stderr)
            rc = 1
        else:
            if echo:
                print(ref, flush=True)
    return rc


def parse_filters(items: Iterable[str]) -> dict[str, list[str]]:
    """``-f key=value`` flags grouped by key."""
    out: dict[str, list[str]] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise errors.InvalidArgument(f"bad format of filter (expected name=value): {item}")
        out.setdefault(key.strip().lower(), []).append(value)
    return out


def split_repo_tag(ref: str) -> tuple[str, str | None]:
    """``repo[:tag]`` split at a colon after the last slash (a registry port is not a tag)."""
    if "@" in ref:
        return ref, None
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    if colon > slash:
        return ref[:colon], ref[colon + 1 :]
    return ref, None
