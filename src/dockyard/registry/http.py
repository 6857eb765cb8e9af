"""Pure helpers for the HTTP layer: header parsing, pagination, Link headers."""

from __future__ import annotations

import re
from collections.abc import Sequence
from urllib.parse import urlencode

from dockyard.registry.errors import RangeUnsatisfiable, SizeInvalid

__all__ = ["next_link", "paginate", "parse_content_range", "parse_n", "parse_range", "upload_range"]

_CONTENT_RANGE = re.compile(r"^(?:bytes[ =])?(\d+)-(\d+)(?:/(?:\d+|\*))?$")
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def parse_content_range(value: str) -> tuple[int, int] | None:
    """``start-end`` (inclusive) of an upload chunk, or None when malformed."""
    m = _CONTENT_RANGE.match(value.strip())
    if not m:
        return None
    start, end = int(m.group(1)), int(m.group(2))
    return (start, end) if end >= start else None


def parse_range(value: str, size: int) -> tuple[int, int]:
    """A single ``Range: bytes=`` request as inclusive ``(start, end)`` within ``size``."""
    m = _RANGE.match(value.strip())
    if not m or (not m.group(1) and not m.group(2)):
        raise RangeUnsatisfiable(f"unsupported range {value!r}", size)
    if not m.group(1):  # suffix range: the last N bytes
        n = int(m.group(2))
        if n == 0 or size == 0:
            raise RangeUnsatisfiable(f"range {value!r} not satisfiable", size)
        return max(0, size - n), size - 1
    start = int(m.group(1))
    end = int(m.group(2)) if m.group(2) else size - 1
    if start >= size or end < start:
        raise RangeUnsatisfiable(f"range {value!r} not satisfiable", size)
    return start, min(end, size - 1)


def upload_range(offset: int) -> str:
    """The ``Range`` header of an upload: inclusive end, ``0-0`` when empty (as Docker's registry)."""
    return f"0-{max(offset - 1, 0)}"


def parse_n(value: str | None) -> int | None:
    if value is None or value == "":
        return None
    if not value.isdigit():
        raise SizeInvalid(f"n must be a non-negative integer, not {value[:40]!r}")
    return int(value)


def paginate(items: Sequence[str], n: int | None, last: str | None) -> tuple[list[str], bool]:
    """Items after ``last`` (lexically), at most ``n``; and whether more follow."""
    rest = [i for i in items if last is None or i > last]
    if n is None:
        return rest, False
    return rest[:n], len(rest) > n


def next_link(path: str, n: int, last: str) -> str:
    return f'<{path}?{urlencode({"n": n, "last": last})}>; rel="next"'
