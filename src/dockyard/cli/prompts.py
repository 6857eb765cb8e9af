"""The confirmation prompt of prune commands and the summary they print."""

from __future__ import annotations

import sys
from collections.abc import Iterable

from dockyard.cli.humanize import human_size

__all__ = ["confirm", "prune_report"]


def confirm(warning: str) -> bool:
    """docker's ``[y/N]`` question on stdout; anything but y/yes (or no input) is no."""
    sys.stdout.write(f"{warning}\nAre you sure you want to continue? [y/N] ")
    sys.stdout.flush()
    answer = sys.stdin.readline().strip().lower()
    return answer in ("y", "yes")


def prune_report(sections: Iterable[tuple[str, Iterable[str]]], reclaimed: int | None) -> str:
    """``Deleted Containers:`` blocks, then ``Total reclaimed space``."""
    lines: list[str] = []
    for title, items in sections:
        items = list(items)
        if items:
            lines += [f"{title}:", *items, ""]
    if reclaimed is not None:
        lines.append(f"Total reclaimed space: {human_size(reclaimed)}")
    return "\n".join(lines)
