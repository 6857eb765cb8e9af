"""Printing the JSON message streams of pull, load, import and bootstrap."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TextIO

from dockyard.client import api_error

__all__ = ["format_message", "show_messages"]


def format_message(msg: Any) -> str | None:
    """One line of text for a message, None for messages that print nothing."""
    if not isinstance(msg, dict):
        return None
    if "stream" in msg:
        return str(msg["stream"])
    status = msg.get("status")
    if not status:
        return None
    if msg.get("progressDetail") and msg.get("progress"):
        return None  # per-chunk progress: only the step lines are kept off a terminal
    ident = msg.get("id")
    return f"{ident}: {status}\n" if ident else f"{status}\n"


def show_messages(messages: Iterable[Any], out: TextIO, *, quiet: bool = False) -> list[Any]:
    """Print each message; an ``error`` message raises it as an APIError. Returns all messages."""
    seen: list[Any] = []
    for msg in messages:
        seen.append(msg)
        if isinstance(msg, dict) and msg.get("error"):
            detail = msg.get("errorDetail") or {}
            code = detail.get("code") if isinstance(detail, dict) else None
            raise api_error(code if isinstance(code, int) and code >= 400 else 500, str(msg["error"]))
        text = format_message(msg)
        if text and not quiet:
            out.write(text)
            out.flush()
    return seen
