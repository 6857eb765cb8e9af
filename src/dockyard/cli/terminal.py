"""The local terminal: raw mode while attached to a TTY container, and its size."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import termios
import tty
from collections.abc import Callable, Iterator
from types import FrameType

__all__ = ["on_resize", "raw_mode", "terminal_size"]


@contextlib.contextmanager
def raw_mode(fd: int) -> Iterator[None]:
    """Raw mode on ``fd`` (if it is a terminal), always restored on the way out."""
    if not os.isatty(fd):
        yield
        return
    saved = termios.tcgetattr(fd)
    try:
        tty.setraw(fd, termios.TCSANOW)
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def terminal_size(fd: int) -> tuple[int, int] | None:
    """(rows, columns) of the terminal on ``fd``, None if it is not one."""
    try:
        size = os.get_terminal_size(fd)
    except OSError:
        return None
    if size.lines == 0 or size.columns == 0:
        cols, rows = shutil.get_terminal_size()
        return rows, cols
    return size.lines, size.columns


@contextlib.contextmanager
def on_resize(callback: Callable[[], None]) -> Iterator[None]:
    """Call ``callback`` on each SIGWINCH while inside the block."""

    def handler(signum: int, frame: FrameType | None) -> None:
        callback()

    previous = signal.signal(signal.SIGWINCH, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGWINCH, previous)
