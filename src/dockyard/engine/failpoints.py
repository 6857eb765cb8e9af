"""Crash points for crash-consistency tests.

``DOCKYARD_FAILPOINT=start:after-mount`` makes the daemon die (like SIGKILL:
no cleanup, no flushing) when it reaches that point. Unset, a check is one
dict lookup.
"""

from __future__ import annotations

import os
import signal

__all__ = ["failpoint"]

_ACTIVE = os.environ.get("DOCKYARD_FAILPOINT", "")


def failpoint(name: str) -> None:
    if _ACTIVE and name == _ACTIVE:
        os.kill(os.getpid(), signal.SIGKILL)
