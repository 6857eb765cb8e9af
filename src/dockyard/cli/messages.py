"""Printing the JSON message streams of pull, load, import and bootstrap."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TextIO

from dockyard.client import api_error

__all__ = ["format_message", "raise_for_error", "show_messages"]


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


def raise_for_error(msg: Any) -> None:
    """An ``error`` message ends the stream: raise it as the APIError it stands for."""
    if isinstance(msg, dict) and msg.get("error"):
        detail = msg.get("errorDetail") or {}
        code = detail.get("code") if isinstance(detail, dict) else None
        raise api_error(code if isinstance(code, int) and code >= 400 else 500, str(msg["error"]))


def show_messages(messages: Iterable[Any], out: TextIO, *, quiet: bool = False, tty: bool | None = None) -> list[Any]:
    """Print each message (live progress bars on a terminal); returns all messages."""
    if tty is None:
        tty = out.isatty()
    if tty and not quiet:
        return _show_live(messages, out)
    seen: list[Any] = []
    for msg in messages:
        seen.append(msg)
        raise_for_error(msg)
        text = format_message(msg)
        if text and not quiet:
            out.write(text)
            out.flush()
    return seen


def _show_live(messages: Iterable[Any], out: TextIO) -> list[Any]:
    # rich only here: a terminal is watching a pull/load, worth its import time.
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TaskID, TextColumn

    console = Console(file=out, force_terminal=True, highlight=False)
    columns = (TextColumn("{task.fields[ident]}: {task.description}"), BarColumn(), DownloadColumn())
    tasks: dict[str, TaskID] = {}
    seen: list[Any] = []
    with Progress(*columns, console=console) as progress:
        for msg in messages:
            seen.append(msg)
            raise_for_error(msg)
            ident = msg.get("id") if isinstance(msg, dict) else None
            if ident and msg.get("status"):
                detail = msg.get("progressDetail") or {}
                if ident not in tasks:
                    tasks[ident] = progress.add_task(str(msg["status"]), ident=ident, total=None)
                progress.update(
                    tasks[ident],
                    description=str(msg["status"]),
                    completed=detail.get("current") or 0,
                    total=detail.get("total") or None,
                )
                continue
            text = format_message(msg)
            if text:
                progress.console.print(text.rstrip("\n"), markup=False)
    return seen
