"""Pure conversions to the human strings the docker CLI prints."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

from dockyard import errors
from dockyard.units import human_duration

__all__ = [
    "api_timestamp",
    "ellipsis",
    "go_time",
    "human_duration",
    "human_size",
    "parse_go_duration",
    "short_id",
    "time_ago",
]


def time_ago(ts: float, now: float | None = None) -> str:
    return human_duration((time.time() if now is None else now) - ts) + " ago"


def human_size(size: float, precision: int = 3) -> str:
    """Go's ``units.HumanSizeWithPrecision`` as the docker CLI calls it: decimal units ("1.99MB")."""
    units = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"]
    i = 0
    while size >= 1000 and i < len(units) - 1:
        size /= 1000.0
        i += 1
    return f"{size:.{precision}g}{units[i]}"


def short_id(ident: str, *, no_trunc: bool = False) -> str:
    """12 hex digits without the algorithm, unless told not to truncate."""
    if no_trunc:
        return ident
    return ident.split(":", 1)[-1][:12]


def ellipsis(text: str, width: int) -> str:
    """Cut to ``width`` characters, the last one an ellipsis when cut."""
    if len(text) <= width:
        return text
    return text[: width - 1] + "…"


def go_time(ts: float) -> str:
    """Go's ``time.Time.String()`` of a Unix time, in local time: ``2026-11-27 22:03:43 +0000 UTC``."""
    t = time.localtime(ts)
    return time.strftime("%Y-%m-%d %H:%M:%S %z %Z", t)


_DURATION = re.compile(r"(\d+(?:\.\d*)?)(ns|us|µs|ms|s|m|h)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_go_duration(text: str) -> float | None:
    """Seconds in a Go duration (``1h30m``, ``10s``), None if ``text`` is not one."""
    if not text or _DURATION.sub("", text) != "":
        return None
    return sum(float(n) * _UNIT_SECONDS[u] for n, u in _DURATION.findall(text))


def api_timestamp(value: str, now: float | None = None) -> str:
    """A ``--since``/``--until`` value as the API's Unix seconds string.

    Accepts Unix seconds (passed through), Go durations meaning "that long ago",
    and RFC 3339 / ISO dates (a date alone is midnight UTC).
    """
    v = value.strip()
    if re.fullmatch(r"\d+(\.\d+)?", v):
        return v
    dur = parse_go_duration(v)
    if dur is not None:
        return f"{(time.time() if now is None else now) - dur:.9f}".rstrip("0").rstrip(".")
    try:
        dt = datetime.fromisoformat(v.replace("Z", "+00:00"))
    except ValueError:
        raise errors.InvalidArgument(f'invalid value for time "{value}"') from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return f"{dt.timestamp():.9f}".rstrip("0").rstrip(".")
