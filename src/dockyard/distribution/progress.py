"""Docker's JSON progress messages (``status``, ``id``, ``progressDetail``, ``progress``) as pure functions."""

from __future__ import annotations

from typing import Any

__all__ = ["error_message", "human_size", "layer_status", "progress", "progress_bar", "short_id", "status"]

_UNITS = ("B", "kB", "MB", "GB", "TB", "PB", "EB")
_BAR = 50


def human_size(n: float) -> str:
    """Decimal sizes with four significant digits, as Docker's ``units.HumanSize`` prints them."""
    i = 0
    while n >= 1000 and i < len(_UNITS) - 1:
        n /= 1000.0
        i += 1
    return f"{n:.4g}{_UNITS[i]}"


def progress_bar(current: int, total: int) -> str:
    """The ``progress`` string: ``[==>   ]  1.2MB/3.4MB``, or just the size when the total is unknown."""
    if current <= 0 and total <= 0:
        return ""
    cur = human_size(current)
    if total <= 0 or current > total:
        if total <= 0:
            return f"{cur:>8}"
        filled = _BAR
        return f"[{'=' * filled}>] {cur:>8}"
    filled = min(int(current / total * 100) // 2, _BAR)
    return f"[{'=' * filled}>{' ' * (_BAR - filled)}] {cur:>8}/{human_size(total)}"


def short_id(digest: str) -> str:
    """A layer's id in progress output: the first 12 hex digits of its digest."""
    return digest.split(":", 1)[-1][:12]


def status(text: str, id_: str = "") -> dict[str, Any]:
    msg: dict[str, Any] = {"status": text}
    if id_:
        msg["id"] = id_
    return msg


def layer_status(text: str, id_: str) -> dict[str, Any]:
    """A per-layer state change (``Pulling fs layer``, ``Download complete``...): empty progressDetail."""
    return {"status": text, "progressDetail": {}, "id": id_}


def progress(text: str, id_: str, current: int, total: int) -> dict[str, Any]:
    detail: dict[str, int] = {"current": current}
    if total > 0:
        detail["total"] = total
    return {"status": text, "progressDetail": detail, "progress": progress_bar(current, total), "id": id_}


def error_message(message: str) -> dict[str, Any]:
    """The last line of a failed stream."""
    return {"errorDetail": {"message": message}, "error": message}
