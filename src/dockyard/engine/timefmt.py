"""Time as Docker prints it: RFC 3339 with nanoseconds, and human durations."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from dockyard.units import human_duration

__all__ = ["ZERO_TIME", "human_duration", "now_rfc3339", "parse_rfc3339", "parse_since", "rfc3339"]

ZERO_TIME = "0001-01-01T00:00:00Z"


def rfc3339(ns: int) -> str:
    """Nanoseconds since the epoch -> ``2024-01-02T03:04:05.123456789Z``."""
    secs, frac = divmod(ns, 1_000_000_000)
    base = datetime.fromtimestamp(secs, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{base}.{frac:09d}Z"


def now_rfc3339() -> str:
    return rfc3339(time.time_ns())


def parse_rfc3339(text: str) -> float:
    """Seconds since the epoch (float) for an RFC 3339 time; 0.0 for the zero time."""
    if not text or text.startswith("0001-01-01"):
        return 0.0
    t = text.strip()
    frac = 0.0
    tz_at = max(t.rfind("Z"), t.rfind("+"), t.rfind("-") if t.rfind("-") > 10 else -1)
    body, tz = (t[:tz_at], t[tz_at:]) if tz_at > 10 else (t, "Z")
    if "." in body:
        body, f = body.split(".", 1)
        frac = float("0." + f) if f else 0.0
    dt = datetime.strptime(body, "%Y-%m-%dT%H:%M:%S")
    offset = 0
    if tz not in ("Z", "z", ""):
        sign = 1 if tz[0] == "+" else -1
        hh, _, mm = tz[1:].partition(":")
        offset = sign * (int(hh) * 3600 + int(mm or 0) * 60)
    return dt.replace(tzinfo=UTC).timestamp() - offset + frac


def parse_since(text: str, now: float | None = None) -> float:
    """Docker's ``since``/``until``: unix seconds (``1700000000.5``), RFC 3339, or a
    duration like ``10m`` / ``1h30m`` relative to now."""
    text = text.strip()
    if not text:
        return 0.0
    try:
        return float(text)
    except ValueError:
        pass
    if text[-1] in "smhd" and text[0].isdigit() and "T" not in text:
        units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
        total, num = 0.0, ""
        for ch in text:
            if ch.isdigit() or ch == ".":
                num += ch
            elif ch in units and num:
                total += float(num) * units[ch]
                num = ""
            else:
                raise ValueError(text)
        return (time.time() if now is None else now) - total
    return parse_rfc3339(text)
