"""Engine API routes: exec (filled in by its issue)."""

from __future__ import annotations

from typing import Any

from dockyard.api.app import Route

__all__ = ["routes"]


def routes(engine: Any) -> list[Route]:
    return []
